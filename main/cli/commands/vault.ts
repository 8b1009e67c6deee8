import type { Command } from 'commander';

export function registerVaultCommand(program: Command): void {
  program
    .command('vault')
    .description('(not built yet)')
    .action(() => {
      console.error('keepsake vault: not built yet');
      process.exitCode = 2;
    });
}
