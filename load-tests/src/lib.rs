//! Load tests: the home of `nexamd-load`, the WebSocket load generator with HDR latency and a
//! JSON report, planned with the WebSocket fanout hub. Nothing is implemented here yet.
