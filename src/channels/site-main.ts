/**
 * `node site-main.js '<json config>'`: runs a site (src/channels/site.ts) in this process, the
 * remote queue manager that the failover benchmark and the demo send to.
 */
import { runSite, type SiteConfig } from './site.js';

runSite(JSON.parse(process.argv[2] ?? '{}') as SiteConfig).catch((error: unknown) => {
  const coded = error as { code?: string; message?: string };
  process.stderr.write(`${coded.code ?? ''} ${coded.message ?? String(error)}\n`);
  process.exit(2);
});
