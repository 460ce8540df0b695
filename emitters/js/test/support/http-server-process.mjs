// The zoo MCP server (streamable HTTP) in a process of its own, so a test can kill it; prints its port.
import { startStreamableServer } from "./servers.mjs";

const server = await startStreamableServer([]);
process.stdout.write(`${server.port}\n`);
