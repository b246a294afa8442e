// The executable's entry. Exit through process.exitCode so stdout is flushed to a pipe
// before the process ends.
import { run } from './cli.ts';

run(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
