// Package kvsm is the KV state machine of a Raft group: Workers KV
// semantics (get, put with expiration and metadata, delete, list with
// prefix and cursor), strongly consistent because every change is a command
// in the group's log, applied in order by every replica.
//
// The package knows nothing of Raft. The group wrapper proposes the bytes of
// EncodePutOnce, EncodeDeleteOnce (or EncodePut, EncodeDelete) and
// EncodeExpire (and EncodeObjectBatch), hands committed entries, with their
// terms, to
// ApplyBatch, serves reads with Get and List (after whatever it does to make
// them linearizable), and adapts Snapshot, Restore and Applied to its Raft
// library. Its types map one to one onto the guest-facing ones of isolate
// (Value = KVEntry, ListOptions = KVListOptions, ListResult = KVList, Key =
// KVKey); ValidatePut turns KVPutOptions into the absolute expiration that a
// put command carries.
//
// # Determinism
//
// Applying depends only on the state and the entries: never on a clock (the
// leader proposes expire(now) with its own clock; replicas use that now),
// never on badger's options. Validation on apply repeats the rules that
// need no clock (see the limits) and rejects a command as ErrInvalid,
// changing nothing; the rules that need a clock (an expiration in the
// future) are checked once, before proposing, by ValidatePut. Reads filter
// keys whose expiration is at or before the reader's now, so an expired key
// is gone for readers before expire removes it.
//
// # Request ids
//
// A proposer whose answer is lost (the leader crashed, or lost its
// leadership) cannot know whether its put or delete was applied, and a
// retry could apply it twice, the second time after other clients' writes,
// which breaks linearizability. So a put or delete may carry a request id
// (EncodePutOnce, EncodeDeleteOnce), shared by every attempt of one logical
// operation, and a deadline, which every attempt carries too (the proposer
// encodes the command once). What is recorded is the pair: applying a
// command whose id is recorded with the command's deadline changes
// nothing but the applied index (Result.Duplicate); otherwise the command
// is applied and, unless it was rejected as ErrInvalid, its id is recorded
// in the same transaction. (A command that reuses an id with another
// deadline is another operation.) A rejected command records nothing, so
// its retry is rejected again. An expire command forgets the ids whose
// deadline is before its now (bounded by its limit, like keys), so an
// attempt applied after its deadline may apply again: the proposer must
// stop retrying well before it (the deadline is the proposer's clock and
// expire's now the leader's, so their skew shortens the window). Recorded
// ids are state: snapshots carry them and Hash covers them. Replicas that predate request ids reject these
// commands as ErrInvalid (unknown version 2): propose them only once every
// replica of the group understands them.
//
// # Layout
//
// One badger DB per node holds every group; a group owns the keys under its
// prefix (prefixes must be prefix-free, e.g. fixed length):
//
//	prefix|'a'                                   applied index, be64
//	prefix|'d'|uvarint(len ns)|ns|key            record
//	prefix|'v'|uvarint(len ns)|ns|key            value of an external record
//	prefix|'x'|be64(expiration)|uvarint(len ns)|ns|key   expiration index, empty
//	prefix|'r'                                   restore under way, empty
//	prefix|'Q'|be64(deadline)|id                 applied request id, empty
//	prefix|'o'|uvarint(len obj)|obj|be64(gen)|key   Durable Object storage value
//	prefix|'g'|obj                               the object's data generation, be64
//	prefix|'G'|uvarint(len obj)|obj|be64(gen)    a generation to collect, empty
//	prefix|'l'|obj                               the object's alarm, be64 unix ms
//	prefix|'L'|be64(unix ms)|obj                 alarm index, empty
//
// A record is a format byte, the expiration (be64 unix seconds, 0 = never),
// uvarint(len metadata), the metadata (JSON, maybe empty) and, for format 1
// (inline), the value. A value over 4 KiB is stored under its 'v' key and
// the record has format 2, so that List, which reads the record of every
// key it returns, never reads large values. The expiration index lets
// expire find due keys without a scan; put and delete read the old record
// to keep it exact. A request id is one key, in deadline order, so that
// expire forgets ids without a scan and a command finds its own id by the
// deadline it carries.
//
// Two filters in memory spare most puts a badger read (which for a key
// badger does not hold searches every memtable and consults every
// level): one holds a 32-bit fingerprint of every recorded id, by
// deadline, and answers "never seen" for a fresh id; the other counts, by
// a 64-bit fingerprint of the data key, the expiration index entries and
// blobs of the records, and a put whose key counts none writes without
// reading the record it replaces (there is nothing of it to remove). A
// fingerprint that matches only costs the read; both are built from the
// indexes at Open and Restore, and follow every transaction (the second
// past 262,144 fingerprints gives up until the next Open). The layout
// changed in this form (the id record 'q' beside its index 'Q' went):
// there was no deployed data to migrate.
//
// # Durable Objects
//
// An object batch (EncodeObjectBatch) is one atomic group of writes to one
// Durable Object's storage: delete all, puts, deletes, and the alarm. It
// carries the owner's epoch, the Raft term in which the owner (the group's
// leader) opened the object, and applies only in a log entry of that term
// (Entry.Term): a batch of an owner that lost its office, even one that
// got it back in a later term, is rejected with ErrStaleOwner by every
// replica, changing nothing. Object storage lives under its own tags, so it
// never mixes with KV namespaces; keys are any bytes up to
// MaxStorageKeyLen, ordered as bytes. Delete all is one write whatever the
// object holds: it moves the object to a new generation of keys, and the
// expire commands collect the old generation's keys (Result.Collected),
// bounded by their limit like expired keys. The alarm index lets the
// leader find due alarms (DueAlarms) without a scan. A batch is bounded
// (MaxObjectBatchKeys, MaxObjectBatchBytes) so that it fits one badger
// transaction of the smallest size Open accepts.
//
// # Applying
//
// ApplyBatch writes a batch in one badger transaction, together with the
// applied index, so that a restarted node skips what it applied (entries
// at or below Applied()). A batch larger than badger's transaction size is
// split between entries, each part committing its own last index: every
// entry is atomic and the applied index always matches the data. Open
// requires badger's MaxBatchSize to hold the largest single entry (2 MiB;
// the default is 9.6 MiB).
//
// The applied index makes the state machine safe without synced writes of
// its own: a write lost in a crash is an entry above the persisted applied
// index, which Raft gives again from its log (badger's SyncWrites is per
// DB, so a DB shared with a synced Raft log store syncs both anyway).
//
// # For the group wrapper
//
// Propose puts and deletes with EncodePutOnce and EncodeDeleteOnce: draw a
// random id (crypto/rand, 16 bytes) and a deadline (now + DedupWindow) once
// per logical operation, before the first attempt, and keep both across
// every retry of that operation (a new leader, a lost answer, a timeout);
// stop retrying before the deadline. A Result with Duplicate set is a
// success: an earlier attempt took effect. Give ApplyBatch the committed
// command entries in order (gaps are fine). Treat a Result whose Err wraps
// ErrStorage as fatal for the group or retry from Applied(); one wrapping
// ErrInvalid is a normal answer to the proposer. After a restart, if the Raft library's latest snapshot is above
// Applied() (the node lost unsynced applies, or a restore was interrupted),
// Restore that snapshot before applying; otherwise skip the restore and let
// ApplyBatch skip the entries at or below Applied(). Propose EncodeExpire
// periodically from the leader, again at once while a Result says More: it
// also forgets the request ids whose deadline has passed.
//
// # Snapshots
//
// Snapshot captures a badger read transaction; WriteTo streams the group's
// keys, recorded request ids, object storage (the current generation) and
// alarms from it (one value in memory at a time), in a versioned format (4;
// Restore also reads 3, whose ids are in id order rather than deadline
// order, 2, which has no objects, and 1, which has no ids either) with
// counts and a CRC-32C. Restore deletes the group's keys and loads a stream
// in batches; a mark written first and removed last, with the applied
// index, makes a restore that crashed roll back to an empty group at index 0
// when the Store is opened again. Hash is the SHA-256 of the snapshot
// stream, to compare replicas.
package kvsm
