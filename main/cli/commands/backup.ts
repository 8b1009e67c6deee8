import type { Command } from 'commander';

export function registerBackupCommand(program: Command): void {
  program
    .command('backup')
    .description('(not built yet)')
    .action(() => {
      console.error('keepsake backup: not built yet');
      process.exitCode = 2;
    });
}
