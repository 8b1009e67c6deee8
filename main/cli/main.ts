// The `keepsake` command. Each subcommand lives in commands/ and registers itself here;
// this file only assembles them, so subcommands stay independent of each other. Usage errors
// commander finds itself (a missing argument, an unknown option or command) exit 2, as every
// other bad input does (commander's own default is 1); --help and --version exit 0.
//
// Each subcommand's module is imported only when it runs: `keepsake restore` does not load
// the engine's pipeline, exiftool or the vault server. A first argument naming a command
// loads that one alone; anything else (--help, a typo) loads them all so help lists them.
import { Command } from 'commander';

type Register = (program: Command) => void;

/** Every subcommand, in the order help lists them. */
const commands: Record<string, () => Promise<Register>> = {
  backup: async () => (await import('./commands/backup.js')).registerBackupCommand,
  daemon: async () => (await import('./commands/daemon.js')).registerDaemonCommand,
  status: async () => (await import('./commands/status.js')).registerStatusCommand,
  files: async () => (await import('./commands/files.js')).registerFilesCommand,
  restore: async () => (await import('./commands/restore.js')).registerRestoreCommand,
  vault: async () => (await import('./commands/vault.js')).registerVaultCommand,
  verify: async () => (await import('./commands/verify.js')).registerVerifyCommand,
  import: async () => (await import('./commands/import.js')).registerImportCommand,
  'free-up': async () => (await import('./commands/free-up.js')).registerFreeUpCommand,
};

export async function buildProgram(argv: readonly string[] = process.argv): Promise<Command> {
  const named = argv[2];
  const wanted =
    named !== undefined && Object.hasOwn(commands, named) ? [named] : Object.keys(commands);
  const registers = await Promise.all(wanted.map((name) => commands[name]!()));
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
  for (const register of registers) register(program);
  return program;
}

await (await buildProgram()).parseAsync(process.argv);
