/** src/schema.d.ts is exactly what `jlpm schema` generates from openapi.yml today. */
import { execFileSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';

import { format, resolveConfig } from 'prettier';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');
const SPEC = resolve(ROOT, '../src/nbtrack/jupyter/openapi.yml');
const SCHEMA = resolve(ROOT, 'src/schema.d.ts');

describe('schema.d.ts', () => {
  it('is generated from the current openapi.yml (run `jlpm schema` after changing it)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nbtrack-schema-'));
    try {
      const out = join(dir, 'schema.d.ts');
      const cli = resolve(ROOT, 'node_modules/openapi-typescript/bin/cli.js');
      execFileSync(process.execPath, [cli, SPEC, '--array-length', '-o', out], {
        stdio: 'pipe'
      });
      const options = { ...(await resolveConfig(SCHEMA)), filepath: SCHEMA };
      const fresh = await format(readFileSync(out, 'utf-8'), options);
      expect(readFileSync(SCHEMA, 'utf-8')).toBe(fresh);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
