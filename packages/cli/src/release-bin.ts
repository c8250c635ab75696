// The relay release archive's entry point (packages/cli/release/build-relay-release.ts bundles it).
import { releaseMain } from './release-main.ts';

process.exitCode = await releaseMain(process.argv.slice(2));
