import type { Command } from 'commander';

export function registerDaemonCommand(program: Command): void {
  program
    .command('daemon')
    .description('(not built yet)')
    .action(() => {
      console.error('keepsake daemon: not built yet');
      process.exitCode = 2;
    });
}
