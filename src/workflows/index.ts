// What the worker bundles: every workflow type of the task queue.
export { provisionJob } from './provisionJob.js';
export { echoWorkflow } from './echo.js';
export { checkTeamAccount } from './checkAccount.js';
export { driftCheck } from './driftCheck.js';
