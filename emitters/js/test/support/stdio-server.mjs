// The zoo MCP server over stdio (run as a child process by the stdio scenarios).
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { zooServer } from "./servers.mjs";

await zooServer().connect(new StdioServerTransport());
