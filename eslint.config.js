// ESLint 9 flat config: typescript-eslint's recommended rules on the TypeScript sources, and the
// module graph: no import cycles, and no module importing one above it (the layers of
// docs/ARCHITECTURE.md). No type-aware rules: they need a full type-check per run, which
// `npm run typecheck` already does.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/** The modules under src/, lowest first: each may import only those before it. */
const LAYERS = [
  'config',
  'llm',
  'common',
  'observability',
  'unit-of-work',
  'errors',
  'auth',
  'idempotency',
  'agents',
  'sessions',
  'messages',
  'approvals',
  'turns',
  'ag-ui',
  'playground',
];

/**
 * Lower modules name the turn of a row (an FK to `turns`) by type only; that is their one look upward.
 * `no-restricted-paths` lets these files through, and `no-restricted-imports` (below) refuses any
 * import of them from a lower module that is not `import type`.
 */
const UPWARD_TYPE_ONLY = { module: 'turns', files: ['turn.entity'] };

const layerZones = LAYERS.flatMap((module, i) =>
  LAYERS.slice(i + 1).map((above) => ({
    target: `./src/${module}`,
    from: `./src/${above}`,
    except: above === UPWARD_TYPE_ONLY.module ? UPWARD_TYPE_ONLY.files.map((file) => `./${file}.ts`) : [],
    message: `${module} sits below ${above} (docs/ARCHITECTURE.md): depend the other way round, or move the code.`,
  })),
);

/** The modules below `UPWARD_TYPE_ONLY.module`, whose imports of its files must be type-only. */
const typeOnlyUpward = {
  files: LAYERS.slice(0, LAYERS.indexOf(UPWARD_TYPE_ONLY.module)).map((module) => `src/${module}/**/*.ts`),
  rules: {
    '@typescript-eslint/no-restricted-imports': [
      'error',
      {
        patterns: UPWARD_TYPE_ONLY.files.map((file) => ({
          regex: `(^|/)${UPWARD_TYPE_ONLY.module}/${file.replaceAll('.', '\\.')}(\\.js)?$`,
          allowTypeImports: true,
          message: `a module below ${UPWARD_TYPE_ONLY.module} may import this file with \`import type\` only (docs/ARCHITECTURE.md).`,
        })),
      },
    ],
  },
};

/** What the playground's browser modules may use beyond the language itself. */
const BROWSER_GLOBALS = Object.fromEntries(
  [
    'AbortController',
    'CSS',
    'IntersectionObserver',
    'Intl',
    'TextDecoderStream',
    'clearInterval',
    'confirm',
    'document',
    'fetch',
    'location',
    'reportError',
    'requestAnimationFrame',
    'sessionStorage',
    'setInterval',
    'setTimeout',
    'window',
  ].map((name) => [name, 'readonly']),
);

export default defineConfig(
  globalIgnores(['dist/', 'node_modules/', 'migrations/', '.data/', 'coverage/']),
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts', 'ormconfig.ts'],
    extends: [tseslint.configs.recommended],
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  {
    // The playground's browser modules have no build and no type-check: lint catches unknown and unused names.
    files: ['src/playground/public/**/*.js'],
    extends: [js.configs.recommended],
    languageOptions: { sourceType: 'module', globals: BROWSER_GLOBALS },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      // Type-only imports are erased and do not count (an entity naming a relation above it).
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': ['error', { zones: layerZones }],
    },
  },
  typeOnlyUpward,
);
