// The `keepsake` command. Each subcommand lives in commands/ and registers itself here;
// this file only assembles them, so subcommands stay independent of each other. Usage errors
// commander finds itself (a missing argument, an unknown option or command) exit 2, as every
// other bad input does (commander's own default is 1); --help and --version exit 0.
import { Command } from 'commander';
import { registerBackupCommand } from './commands/backup.js';
import { registerDaemonCommand } from './commands/daemon.js';
import { registerFilesCommand } from './commands/files.js';
import { registerImportCommand } from './commands/import.js';
import { registerRestoreCommand } from './commands/restore.js';
import { registerStatusCommand } from './commands/status.js';
import { registerVaultCommand } from './commands/vault.js';
import { registerVerifyCommand } from './commands/verify.js';

export function buildProgram(): Command {
  const program = new Command()
    .name('keepsake')
    .description(
      'Back up photos and videos to a Keepsake Vault, resumably and verified by SHA-256.',
    )
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride((err) => {
      // Commander has printed its message already; only the exit code is ours.
      process.exit(err.exitCode === 0 ? 0 : 2);
    });
  registerBackupCommand(program);
  registerDaemonCommand(program);
  registerStatusCommand(program);
  registerFilesCommand(program);
  registerRestoreCommand(program);
  registerVaultCommand(program);
  registerVerifyCommand(program);
  registerImportCommand(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
