import type { Command } from 'commander';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('(not built yet)')
    .action(() => {
      console.error('keepsake status: not built yet');
      process.exitCode = 2;
    });
}
