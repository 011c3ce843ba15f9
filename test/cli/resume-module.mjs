// A handler module for the cross-node resume tests: a native router with a
// tool that raises notifications/resources/updated on this node, a tool that
// logs at a given level, and one that names the caller.
import { McpRouter } from '../../dist/router/router.js';

export const router = new McpRouter({ name: 'resume-node', version: '1' });
router
  .tool({ name: 'touch' }, (args) => {
    router.notifyResourceUpdated(String(args.uri));
    return 'touched';
  })
  .tool({ name: 'log' }, (args, ctx) => {
    ctx.log(String(args.level), String(args.text));
    return 'logged';
  })
  .tool({ name: 'whoami' }, (_args, ctx) => ctx.identity?.subject ?? 'anonymous')
  .tool({ name: 'node' }, () => String(process.pid))
  .resource({ uri: 'test://r', name: 'r' }, () => 'r');
