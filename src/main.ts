// `npm start`: the API and, unless WORKER=off, the worker (the job consumers and schedules) in
// one process (src/process.ts).
import { runProcess } from './process.ts';

await runProcess();
