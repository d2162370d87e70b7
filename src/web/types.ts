/** The API's shapes, shared with the server (types only: nothing of the server is bundled into the page). */
import type { AppStatus, EndpointStatus } from '../shared/api-types.js';

export type { Bucket, ClientKeyView, EndpointView, HistoryPoint, LogEntry, PresetView } from '../shared/api-types.js';
export type Status = AppStatus;
export type EndpointRuntime = EndpointStatus;
