import { expect } from 'expect';
import { describe, it } from 'node:test';
import { QueryFailedError } from 'typeorm';
import { describeNonError, redactError, redactText } from '../../src/observability/log-redaction.js';

describe('log redaction', () => {
  it('keeps what describes a database error and drops the parameters, detail and quoted values', () => {
    const driverError = Object.assign(new Error('invalid input syntax for type uuid: "my secret text"'), {
      code: '22P02',
      detail: 'Key (content)=(my secret text) is not present',
      where: 'my secret text',
      table: 'messages',
    });
    const error = new QueryFailedError('INSERT INTO messages (content) VALUES ($1)', ['my secret text'], driverError);
    const logged = redactError(error);
    expect(JSON.stringify(logged)).not.toContain('secret');
    expect(logged).toMatchObject({
      type: 'QueryFailedError',
      message: 'invalid input syntax for type uuid: [redacted]',
      code: '22P02',
      table: 'messages',
    });
  });

  it('redacts an Error given as its message and follows causes', () => {
    expect(redactText('invalid input value for enum role: "hello there"')).toBe('invalid input value for enum role: [redacted]');
    expect(redactText('relation "sessions" does not exist')).toBe('relation "sessions" does not exist');
    const wrapped = new Error('step failed', { cause: Object.assign(new Error('provider said no'), { body: { messages: ['secret'] } }) });
    expect(JSON.stringify(redactError(wrapped))).not.toContain('secret');
    expect(redactError(wrapped)).toMatchObject({ cause: { type: 'Error', message: 'provider said no' } });
  });

  it('describes a value that is not an Error: a primitive as it is, an object by its shape, at most 200 characters', () => {
    expect(describeNonError('cancelled')).toBe("'cancelled'");
    expect(describeNonError(42)).toBe('42');
    expect(describeNonError(undefined)).toBe('undefined');
    const body = { status: 500, content: 'my secret text', messages: [{ content: 'secret' }], meta: { note: 'secret' } };
    expect(describeNonError(body)).toBe("{ status: 500, content: ''... 14 more characters, messages: [Array], meta: [Object] }");
    const custom = { [Symbol.for('nodejs.util.inspect.custom')]: () => 'my secret text' };
    expect(describeNonError(custom)).not.toContain('secret');
    expect(describeNonError('x'.repeat(1000))).toHaveLength(200);
  });
});
