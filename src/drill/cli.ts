/** `stampede drill` entry point (issue 4). Returns the process exit code. */
export async function runDrillCli(_argv: string[]): Promise<number> {
  process.stderr.write('stampede drill: not built yet\n');
  return 2;
}
