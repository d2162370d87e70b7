/** Why an endpoint is penalised; each cause has its own cool-down in the breaker. */
export type Penalty =
  | 'auth' // the endpoint's own key was rejected (401/403/402)
  | 'rate-limit' // 429 with retry-after
  | 'spend-limit' // 429 that reads like a quota or spend cap: no point retrying soon
  | 'overload' // 529
  | 'server' // 5xx
  | 'connect' // never reached
  | 'timeout' // no first byte in time
  | 'broken-stream' // reset, or a 200 stream that broke before its first event
  | 'stall'; // lost hedge after hedge for want of a first token (see EndpointRuntime.recordStall)
