/** A trivial workflow the health checks and the set-up test run to prove a worker serves the queue. */
export async function echoWorkflow(message: string): Promise<string> {
  return `echo: ${message}`;
}
