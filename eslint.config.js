// ESLint 9 flat config: typescript-eslint's recommended rules on the TypeScript sources.
// No type-aware rules: they need a full type-check per run, which `npm run typecheck` already does.
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(globalIgnores(['dist/', 'node_modules/', 'migrations/', '.data/', 'coverage/']), {
  files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts', 'ormconfig.ts'],
  extends: [tseslint.configs.recommended],
  linterOptions: { reportUnusedDisableDirectives: 'error' },
});
