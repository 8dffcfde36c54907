import { execSync } from 'node:child_process';

/** Integration suites run the compiled apps as real processes, so build once before any suite. */
export default function globalSetup(): void {
  if (process.env.SKIP_BUILD === '1') return;
  execSync('npm run build --silent', { stdio: 'inherit', cwd: `${__dirname}/../..` });
}
