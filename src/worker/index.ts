/**
 * Training in a Web Worker. The worker calls `serveTraining` with the jobs it offers; the page calls
 * `startTraining` and gets a handle to pause, resume, change the learning rate, checkpoint and stop
 * the run, while the worker posts progress.
 * @module webgpu-dl/worker
 */
export { serveTraining, type MessageEndpoint, type JobContext, type TrainingJob, type JobFactory, type ServeTrainingOptions } from './host.js';
export { startTraining, workerReady, type WorkerEndpoint, type StartTrainingOptions, type TrainingRun, type TrainingRunEvents } from './client.js';
export { WorkerProtocolError, TrainingWorkerError, parseToWorker, serializeError, type ToWorker, type FromWorker, type SerializedError } from './protocol.js';
export { trainerJob, type TrainerJobConfig, type TrainerJobSetup } from './trainer_job.js';
export { ganJob, type GanJobConfig, type GanJobProgress } from './gan_job.js';
