/**
 * Typed OpenDHT messages: what `wire/` decodes datagrams into and encodes
 * back. Field names are ours; the wire key names (`"y"`, `"t"`, `"a"`, …)
 * live only in `wire/`. Facts: `docs/opendht-wire.md` (OpenDHT 2.4.12).
 *
 * @module
 */
import type { InfoHash } from "../identity/info_hash.ts";
import type { PeerAddress } from "../transport.ts";

/** Address family numbers OpenDHT sends in `w` (Linux values). */
export const WANT_IPV4 = 2;
/** Address family number for IPv6 in `w`. */
export const WANT_IPV6 = 10;

/** Value field ids used in queries (`Value::Field`). */
export const ValueField = {
  None: 0,
  Id: 1,
  ValueType: 2,
  OwnerPk: 3,
  SeqNum: 4,
  UserType: 5,
} as const;

/** Codes of error messages (`y: "e"`), as OpenDHT sends and understands them; match on these, not on the text. */
export const ErrorCode = {
  /** Missing info hash, or a value with id 0. */
  NonAuthoritative: 203,
  /** Wrong or missing token. */
  Unauthorized: 401,
  /** Refresh for a key the node does not store. */
  NotFound: 404,
  /**
   * A value the storage policy refuses (size, already expired, an edit
   * without a higher sequence number). Not an OpenDHT code: OpenDHT 2.4.12
   * acknowledges such puts as if stored; we tell the putter the truth, and
   * OpenDHT logs unknown codes and counts the put as failed.
   */
  Refused: 403,
  /**
   * A put or listen refused by a quota: the key is full and the sender's
   * origin already holds at least a fair share, or one of the per-origin,
   * per-node or total limits is reached. Not an OpenDHT code either.
   */
  InsufficientStorage: 507,
} as const;

/**
 * An OpenDHT value. Our own records are opaque bytes in `data` of a plain
 * (unsigned) value; the signed and encrypted forms are decoded so that
 * values of other OpenDHT users are stored and relayed intact.
 */
export interface DhtValue {
  /** Non-zero uint64 chosen by the publisher (often ≥ 2^53, hence bigint). */
  readonly id: bigint;
  /** Value type (lifetime and policy); 0 for an encrypted value. */
  readonly type: number;
  /** Payload; empty for an encrypted value. */
  readonly data: Uint8Array;
  /** Free-form user type, e.g. "text/plain". */
  readonly userType?: string;
  /** Priority (not signed), omitted when 0. */
  readonly priority?: number;
  /** Signed values: the owner's public key (DER SPKI for OpenDHT's RSA). */
  readonly owner?: Uint8Array;
  /** Signed values: sequence number (uint16). */
  readonly seq?: number;
  /** Signed values: recipient key id. */
  readonly recipient?: InfoHash;
  /** Signed values: signature over the canonical body. */
  readonly signature?: Uint8Array;
  /** Encrypted values: the whole ciphertext (`dat` as bin). */
  readonly cypher?: Uint8Array;
}

/** One condition of a query's where clause: the value's `field` must equal `value` (for OwnerPk, the owner key's SHA-1 must). */
export interface WhereTerm {
  /** A {@link ValueField} id. */
  readonly field: number;
  /** uint for Id/ValueType, bytes for OwnerPk/UserType. */
  readonly value: bigint | number | Uint8Array;
}

/** A get/listen query (`q: {s, w}`); both parts are always sent. */
export interface DhtQuery {
  /** Selected field ids (empty = whole values). */
  readonly select: readonly number[];
  /** Terms combined with AND. */
  readonly where: readonly WhereTerm[];
}

/** A node as carried in `n4`/`n6`. */
export interface NodeInfo {
  /** The node's 160-bit id, which places it in routing tables. */
  readonly id: InfoHash;
  /** Where the node receives datagrams: IPv4 in `n4`, IPv6 in `n6`. */
  readonly address: PeerAddress;
  /**
   * The address's host as a 32-bit IPv4 number, when the maker of this
   * entry has read it already (a routing table's nodes carry it): the `n4`
   * writer then takes it instead of parsing the host again. When present it
   * must be `address.host`'s number; -1 means not IPv4.
   */
  readonly ipv4?: number;
}

/** Fields every message of a node carries. */
interface MessageBase {
  /** Transaction id (uint32). */
  readonly tid: number;
  /** Network id; 0 (absent on the wire) is the public network. */
  readonly network: number;
  /** User agent (`v`), e.g. "RNG1"; informational. */
  readonly userAgent?: string;
  /** `s: true`: the sender is a client and must not enter routing tables. */
  readonly isClient?: boolean;
}

interface RequestBase extends MessageBase {
  /** Always `"request"` (`y: "q"` on the wire); tells the message kinds apart. */
  readonly kind: "request";
  /** Sender node id (non-zero). */
  readonly senderId: InfoHash;
}

/** `ping`. */
export interface PingRequest extends RequestBase {
  /** The query (`q`), which tells the request types apart. */
  readonly method: "ping";
}

/** `find`: closest nodes to `target`. */
export interface FindRequest extends RequestBase {
  /** The query (`q`), which tells the request types apart. */
  readonly method: "find";
  /** The id whose closest nodes are wanted; any id, not necessarily a node's. */
  readonly target: InfoHash;
  /** Wanted families ({@link WANT_IPV4}, {@link WANT_IPV6}); absent = sender's own. */
  readonly want?: readonly number[];
}

/** `get`: values at `key` plus closer nodes and a token. */
export interface GetRequest extends RequestBase {
  /** The query (`q`), which tells the request types apart. */
  readonly method: "get";
  /** The key the values are stored under (`h`). */
  readonly key: InfoHash;
  /** Optional select/where. */
  readonly query?: DhtQuery;
  /** Address families of the nodes wanted in the reply ({@link WANT_IPV4}, {@link WANT_IPV6}); absent = sender's own. */
  readonly want?: readonly number[];
  /**
   * Write token the node gave us earlier (our extension; OpenDHT ignores it):
   * it proves we receive at our address, so the node may send a large
   * answer instead of a {@link DhtReply.truncated} one.
   */
  readonly token?: Uint8Array;
}

/** `put`: store values at `key`. */
export interface PutRequest extends RequestBase {
  /** The query (`q`), which tells the request types apart. */
  readonly method: "put";
  /** The key to store the values under (`h`). */
  readonly key: InfoHash;
  /** Values (OpenDHT sends exactly one); empty in a fragmented header. */
  readonly values: readonly DhtValue[];
  /**
   * Fragmented put header: packed size of each value that follows as value
   * parts (`values` on the wire holds these sizes, `values` above is empty).
   */
  readonly valueSizes?: readonly number[];
  /** Creation time of the values, Unix seconds (`c`). */
  readonly createdSeconds?: number;
  /** Write token from a previous find/get reply. */
  readonly token: Uint8Array;
}

/** `refresh`: extend the life of a stored value by id. */
export interface RefreshRequest extends RequestBase {
  /** The query (`q`), which tells the request types apart. */
  readonly method: "refresh";
  /** The key the value is stored under (`h`). */
  readonly key: InfoHash;
  /** Id of the stored value whose life is extended (`vid`). */
  readonly valueId: bigint;
  /** Write token from an earlier find/get reply of the same node; a wrong one gets error 401. */
  readonly token: Uint8Array;
}

/** `listen`: subscribe to changes at `key` under socket id `socketId`. */
export interface ListenRequest extends RequestBase {
  /** The query (`q`), which tells the request types apart. */
  readonly method: "listen";
  /** The key to watch (`h`). */
  readonly key: InfoHash;
  /** Write token from an earlier find/get reply of the same node; a wrong one gets error 401. */
  readonly token: Uint8Array;
  /** Listener's socket id (uint32). */
  readonly socketId: number;
  /** Protocol version (`ve`); 1 = pushes as `update` requests. */
  readonly version?: number;
  /** Optional select/where. */
  readonly query?: DhtQuery;
}

/** `update`: push from a storing node to a version-1 listener. */
export interface UpdateRequest extends RequestBase {
  /** The query (`q`), which tells the request types apart. */
  readonly method: "update";
  /** The socket id the listener chose in its `listen` request (`sid`), to match the push to it. */
  readonly socketId: number;
  /** Key (present for new values only). */
  readonly key?: InfoHash;
  /** Fresh token for the listener. */
  readonly token?: Uint8Array;
  /** `ve`, when sent. */
  readonly version?: number;
  /** New or changed values. */
  readonly values?: readonly DhtValue[];
  /** Fragmented push header: packed sizes of values that follow as value parts. */
  readonly valueSizes?: readonly number[];
  /** Creation time of `values`, Unix seconds. */
  readonly createdSeconds?: number;
  /** Ids of values at the key whose life the storing node extended (`re`). */
  readonly refreshed?: readonly bigint[];
  /** Ids of values at the key that expired and were dropped (`exp`). */
  readonly expired?: readonly bigint[];
}

/** Any request (`y: "q"`), told apart by `method`. */
export type DhtRequest =
  | PingRequest
  | FindRequest
  | GetRequest
  | PutRequest
  | RefreshRequest
  | ListenRequest
  | UpdateRequest;

/** A reply (`y: "r"`). Which fields are present depends on the request. */
export interface DhtReply extends MessageBase {
  /** Always `"reply"` (`y: "r"` on the wire); tells the message kinds apart. */
  readonly kind: "reply";
  /** Replier's node id. */
  readonly senderId: InfoHash;
  /**
   * Requester's IP as seen by the replier (`sa`, 4 or 16 bytes). Decoded, a
   * view of the datagram: copy it to keep it.
   */
  readonly seenAddress?: Uint8Array;
  /**
   * Requester's UDP port as seen by the replier (`sp`, our extension,
   * ignored by OpenDHT, which sends none): behind a NAT, the public port of
   * the mapping towards this replier (see `ObservedMapping`).
   */
  readonly seenPort?: number;
  /** IPv4 nodes. */
  readonly nodes4?: readonly NodeInfo[];
  /** IPv6 nodes. */
  readonly nodes6?: readonly NodeInfo[];
  /**
   * Write token (find/get replies, always 32 bytes from OpenDHT). Decoded, a
   * view of the datagram: copy it to keep it (a search does).
   */
  readonly token?: Uint8Array;
  /** Values (get replies). */
  readonly values?: readonly DhtValue[];
  /** Sizes of values that follow as value parts (fragmented get reply). */
  readonly valueSizes?: readonly number[];
  /** Field-only answer to a select (`fileds`). */
  readonly fields?: {
    readonly fields: readonly number[];
    readonly values: readonly unknown[];
  };
  /** Acknowledged value id (put/refresh replies). */
  readonly valueId?: bigint;
  /**
   * Some values were left out (`tr`, our extension, ignored by OpenDHT): the
   * requester had not proven its address, so the answer was kept small.
   * Asking again with the reply's token gets them all.
   */
  readonly truncated?: boolean;
  /**
   * Value types whose refreshes this storing node does not push to its
   * listeners (`qr`, our extension in `listen` replies, ignored by OpenDHT;
   * at most {@link MAX_QUIET_REFRESH_TYPES}). A node that names none pushes
   * every refresh, as stock OpenDHT does: a listener can then hear a
   * publisher stop refreshing a value it holds.
   */
  readonly quietRefreshTypes?: readonly number[];
}

/** Most value types a `listen` reply's `qr` names (more: the field is ignored). */
export const MAX_QUIET_REFRESH_TYPES = 16;

/** An error (`y: "e"`). */
export interface DhtError extends MessageBase {
  /** Always `"error"` (`y: "e"` on the wire); tells the message kinds apart. */
  readonly kind: "error";
  /** Sender node id (from `r.id`); required by OpenDHT to act on it. */
  readonly senderId?: InfoHash;
  /** An {@link ErrorCode}. */
  readonly code: number;
  /** Human-readable text; match on the code, not the text. */
  readonly message: string;
}

/** One fragment of a large value (`y: "p"`). */
export interface DhtValuePart {
  /** Always `"value-part"` (`y: "p"` on the wire); tells the message kinds apart. */
  readonly kind: "value-part";
  /** Transaction id of the message the parts belong to. */
  readonly tid: number;
  /** Network id, as in every message; 0 (absent on the wire) is the public network. */
  readonly network: number;
  /** Pieces: value index in the header's `values`, byte offset, bytes (≤ 1280). */
  readonly parts: readonly {
    readonly index: number;
    readonly offset: number;
    readonly data: Uint8Array;
  }[];
}

/** Anything `wire.ts` decodes a datagram into, told apart by `kind`. */
export type DhtMessage = DhtRequest | DhtReply | DhtError | DhtValuePart;
