const PATTERNS: Array<[RegExp, string]> = [
  // API keys as OpenAI, Anthropic, OpenRouter and most gateways shape them (sk-…, sk-ant-…, sk-or-v1-…).
  [/\b(?:sk|pk|rk|ak)-[A-Za-z0-9_*-]{6,}/g, '[redacted]'],
  [/\bBearer\s+[^\s"',;]+/gi, 'Bearer [redacted]'],
  [/([?&](?:api[_-]?key|key|token|access_token|secret)=)[^&\s"']+/gi, '$1[redacted]'],
  [/\/\/[^/\s:@]+:[^/\s@]+@/g, '//[redacted]@'],
  // Long opaque tokens (keys, signatures) whatever their prefix.
  [/[A-Za-z0-9+/_=-]{40,}/g, '[redacted]'],
];

/** A provider's message fit for logs: the configured key and anything shaped like a credential removed. */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}
