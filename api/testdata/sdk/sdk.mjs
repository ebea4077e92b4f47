// What the SDK scripts share: their settings from the environment, the
// official SDK as npm installed it (unchanged), and steps that record each
// call's outcome so that one report names every call that failed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const sdkDir = env('NYLAS_SDK_DIR');
// The package's own ESM entry, as `import Nylas from 'nylas'` would resolve
// it: the scripts live outside the directory npm installed into.
export const pkg = JSON.parse(readFileSync(join(sdkDir, 'package.json'), 'utf8'));
export const { default: Nylas } = await import(pathToFileURL(join(sdkDir, pkg.exports.import.default)).href);

// steps returns step and expectError, recording into out.steps.
export function steps(out) {
  // step runs one SDK call; a failure is recorded (with what the API said)
  // and the run goes on.
  async function step(name, fn) {
    try {
      const v = await fn();
      out.steps.push({ name, ok: true });
      return v;
    } catch (err) {
      out.steps.push({
        name,
        ok: false,
        error: String(err?.message ?? err),
        errorClass: err?.constructor?.name,
        statusCode: err?.statusCode,
        type: err?.type,
      });
      return undefined;
    }
  }

  // expectError runs a call that must fail and returns the SDK's error.
  async function expectError(name, fn) {
    try {
      await fn();
    } catch (err) {
      out.steps.push({ name, ok: true });
      return { errorClass: err?.constructor?.name, statusCode: err?.statusCode, type: err?.type, message: err?.message };
    }
    out.steps.push({ name, ok: false, error: 'the call succeeded but must fail' });
    return undefined;
  }
  return { step, expectError };
}
