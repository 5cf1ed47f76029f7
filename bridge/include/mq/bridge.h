// mq::bridge: carries mailbox messages between hosts over NATS JetStream
// (docs/bridge.md). A remote actor is a local socket path: a proxy mailbox
// on this host, whose stored messages are published to the subject
// mq.<node>.<actor> of one stream; the bridge on <node> pulls them with a
// durable consumer and delivers each with a confirmed send to the local
// actor's socket, acking JetStream only after the actor's mailbox confirmed.
//
// Errors: every call returns a Status or a Result<T> (mq/status.h); nothing
// throws.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mq/status.h"

namespace mq::bridge {

// A remote actor exposed here: local senders send to `socket`; the bridge
// publishes to mq.<node>.<actor>.
struct RemoteActor {
  std::string node;
  std::string actor;
  std::string socket;
};

// A local actor imported here: messages on mq.<this node>.<actor> are
// delivered to `socket` (the actor's own mailbox socket).
struct LocalActor {
  std::string actor;
  std::string socket;
};

// TLS to the NATS servers ([bridge.tls], docs/bridge.md "Security"). TLS is
// required, never negotiated down, when the table is given or a URL is
// tls://; the server's certificate is then verified against `ca` (else the
// system's trusted CAs) and the URL's host, or `server_name` if given.
struct TlsOptions {
  bool required = false;
  std::string ca;           // trusted CA certificates (PEM), optional
  std::string cert, key;    // a client certificate and its key (PEM), for mutual TLS; both or neither
  std::string server_name;  // the name the server's certificate must carry, in place of the URL's host
};

// Messages a route fetches from JetStream at a time (one pull request).
inline constexpr int kInboundBatch = 64;

struct BridgeConfig {
  std::string node;                // this host's name (a NATS subject token)
  std::vector<std::string> urls;   // nats://host:port, tried in turn
  std::string stream = "MQ";
  int replicas = 1;
  bool create_stream = true;       // create the stream when it is missing, else a clear error
  // The created stream's duplicate window (Nats-Msg-Id dedup). Correctness
  // does not rest on it: after a restart the bridge asks the stream where it
  // is (docs/bridge.md, "Outbound").
  std::chrono::milliseconds duplicate_window{120000};
  // At most one of creds and nkey_seed. Both files, and tls.key, must be
  // readable by their owner only (checked at start, like an ssh key).
  std::string creds;               // a NATS .creds file (optional)
  std::string nkey_seed;           // a file holding an NKey user seed, SU... (optional)
  TlsOptions tls;
  std::string state;               // the state directory (proxy logs, delivery records)
  uint32_t window = 256;           // async publishes in flight, at most (all routes)
  std::chrono::milliseconds publish_timeout{5000};  // a PubAck later than this: republish
  std::chrono::milliseconds ack_wait{30000};        // the consumer's AckWait
  uint64_t max_message_size = 64 * 1024;  // the proxies' limit (capped by the server's max_payload)
  // A local actor's delivery record is compacted (to the consumer's ack
  // floor plus what lies above it) once it holds more sequences than this.
  uint64_t record_compact_above = 4096;
  // Inbound: fetch batches (of kInboundBatch messages) a local actor's route
  // keeps in flight, delivered to the actor and awaiting its mailbox's
  // confirmation (1..16). Each batch is recorded and acked to JetStream, in
  // order, once every message of it (and of the batches before it) is
  // settled. Also the duplicate bound: a SIGKILL of the bridge delivers at
  // most inbound_window * kInboundBatch messages twice (docs/bridge.md).
  uint32_t inbound_window = 4;
  // confirm = "upstream": a proxy's answer to a confirming sender waits
  // until JetStream has acked the message (and every earlier one of that
  // proxy); "local" (false, the default): once it is durable on this host.
  bool confirm_upstream = false;
  std::vector<RemoteActor> remotes;
  std::vector<LocalActor> locals;
};

// Parses the TOML configuration (docs/bridge.md, "Configuration"). Errors:
// kInvalidArgument naming the source, the line and the field.
Result<BridgeConfig> ParseConfig(std::string_view text, const std::string& source);
Result<BridgeConfig> LoadConfig(const std::string& path);

// What the bridge did (mqbridge prints it at exit).
struct BridgeStats {
  std::atomic<uint64_t> published{0};     // PubAcks received (duplicates included)
  std::atomic<uint64_t> pub_duplicates{0};  // PubAcks the server marked as duplicates
  std::atomic<uint64_t> republished{0};   // publishes sent again after an error or timeout
  std::atomic<uint64_t> delivered{0};     // confirmed by a local actor's mailbox
  std::atomic<uint64_t> redelivered{0};   // JetStream deliveries with NumDelivered > 1
  std::atomic<uint64_t> deduplicated{0};  // deliveries skipped: already delivered
};

// One route's counters, as `mqbridge status` shows them: an outbound route
// (a proxy, kind "out", name mq.<node>.<actor>.<this node>) or an inbound one
// (a local actor, kind "in", name the actor).
struct RouteStatus {
  std::string kind;
  std::string name;
  uint64_t in_flight = 0;     // out: publishes without PubAck; in: sent to the actor, not confirmed
  uint64_t published = 0;     // out: publishes sent (again after errors too); in: delivered to the actor
  uint64_t acked = 0;         // out: PubAcks; in: acks sent to JetStream
  uint64_t redelivered = 0;   // out: publishes sent again; in: deliveries with NumDelivered > 1
  uint64_t deduplicated = 0;  // out: PubAcks marked duplicate; in: skipped, in the delivery record
  std::string last_error;
};

// What the running bridge writes to its state file, <state>/status.toml,
// about twice a second (a new file renamed over the old one), and
// `mqbridge status CONFIG` reads (docs/bridge.md, "Status").
struct BridgeStatus {
  int64_t pid = 0;
  int64_t updated_unix_ms = 0;
  bool connected = false;
  std::vector<RouteStatus> routes;
};
std::string StatusPath(const BridgeConfig& config);
Status WriteStatus(const BridgeConfig& config, const BridgeStatus& status);
// Errors: kNotFound (no bridge has run with this state directory),
// kCorruption naming the file and what is wrong.
Result<BridgeStatus> ReadStatus(const BridgeConfig& config);
// A table per route for people, or (json) one JSON object; `now_unix_ms`
// tells how old the figures are, and whether the bridge still runs.
std::string FormatStatus(const BridgeStatus& status, bool json, int64_t now_unix_ms);

// Opens the proxies, connects (retrying with backoff until `stop`), and
// carries messages until `stop` becomes true. `on_ready` (may be empty) is
// called once every proxy socket is bound. Errors: a bad state directory,
// a proxy that cannot open, a missing stream with create_stream = false,
// a bad credentials file.
Status Run(const BridgeConfig& config, const std::atomic<bool>& stop, BridgeStats* stats,
           void (*on_ready)(void*) = nullptr, void* ready_arg = nullptr);

}  // namespace mq::bridge
