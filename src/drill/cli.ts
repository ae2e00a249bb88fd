/**
 * `stampede drill <scenario> [options]` (also `npm run drill -- ...`). Returns the exit code:
 * 0 pass · 1 could not run · 2 usage · 97 generator saturated (INVALID) · 98 audit failed ·
 * 99 thresholds failed. See docs/drill.md.
 */
import { DrillRunError, DrillUsageError, EXIT } from './errors.js';
import { parseDrillArgs, USAGE } from './options.js';
import { runDrill } from './run.js';

export async function runDrillCli(argv: string[]): Promise<number> {
  const io = { stdout: process.stdout, stderr: process.stderr };
  let parsed: ReturnType<typeof parseDrillArgs>;
  try {
    parsed = parseDrillArgs(argv);
  } catch (err) {
    if (err instanceof DrillUsageError) {
      io.stderr.write(`stampede drill: ${err.message}\n\n${USAGE}`);
      return EXIT.USAGE;
    }
    throw err;
  }
  if (parsed.help) {
    io.stdout.write(USAGE);
    return EXIT.OK;
  }
  try {
    const outcome = await runDrill(parsed.options, io);
    return outcome.exitCode;
  } catch (err) {
    if (err instanceof DrillUsageError) {
      io.stderr.write(`stampede drill: ${err.message}\n`);
      return EXIT.USAGE;
    }
    if (err instanceof DrillRunError) {
      io.stderr.write(`stampede drill: could not run: ${err.message}\n`);
      return EXIT.RUN_FAILED;
    }
    throw err;
  }
}
