# pragma version ~=0.4.3
"""
@title RegionCare record index
@notice Who holds which medical record, its SHA-256, who may read it, and the anchored
        roots of the access log. Nothing personal: pseudonyms, hashes and opaque ids only.
"""

struct Record:
    patient: bytes32      # regional pseudonym (keyed HMAC), never a raw identifier
    holder: address       # the institution that holds the record
    record_class: uint8   # coded resource class (Observation, ImagingStudy, ...)
    level: uint8          # sensitivity level, 0 (lowest) .. 255
    sha256: bytes32       # SHA-256 of the canonical record bytes at the holder
    version: uint32       # 1 on registration, +1 on each supersede
    time: uint64          # block time of the last change

# Storage form: three slots per record instead of seven (each SSTORE is a trie write).
# meta = holder << 96 | record_class << 88 | level << 80 | version << 48 | time (48 bits)
struct Stored:
    patient: bytes32
    sha256: bytes32
    meta: uint256

struct Grant:
    max_level: uint8      # the highest record level the grantee may read
    purpose: uint8        # coded purpose of use (treatment, referral, ...)
    expiry: uint64        # unix seconds; the grant is void at and after this time
    consent: bytes32      # hash of the patient's consent document
    active: bool

struct Anchor:
    size: uint64
    root: bytes32
    time: uint64

event InstitutionAdded:
    account: indexed(address)
    code: bytes32

event HomeSet:
    patient: indexed(bytes32)
    home: indexed(address)

event RecordRegistered:
    record_id: indexed(bytes32)
    patient: indexed(bytes32)
    holder: indexed(address)
    record_class: uint8
    level: uint8
    sha256: bytes32
    version: uint32
    time: uint64

event GrantChanged:
    patient: indexed(bytes32)
    grantee: indexed(address)
    role: indexed(uint8)
    max_level: uint8
    purpose: uint8
    expiry: uint64
    consent: bytes32
    active: bool

event LogAnchored:
    index: indexed(uint256)
    size: uint64
    root: bytes32
    time: uint64

admin: public(address)
institution_code: public(HashMap[address, bytes32])
home_of: public(HashMap[bytes32, address])
stored: HashMap[bytes32, Stored]
grants: public(HashMap[bytes32, HashMap[address, HashMap[uint8, Grant]]])
anchors: public(HashMap[uint256, Anchor])
anchor_count: public(uint256)
record_count: public(uint256)
# Running hash over every registration in chain order: a verifier recomputes it from its
# own copy of the events and compares one value to prove that copy complete and unaltered.
registry_digest: public(bytes32)


@deploy
def __init__():
    self.admin = msg.sender


@internal
@pure
def _unpack(st: Stored) -> Record:
    meta: uint256 = st.meta
    return Record(
        patient=st.patient,
        holder=convert(convert(meta >> 96, uint160), address),
        record_class=convert((meta >> 88) & 255, uint8),
        level=convert((meta >> 80) & 255, uint8),
        sha256=st.sha256,
        version=convert((meta >> 48) & 4294967295, uint32),
        time=convert(meta & 281474976710655, uint64))


@external
@view
def records(record_id: bytes32) -> Record:
    return self._unpack(self.stored[record_id])


@internal
@view
def _is_institution(account: address) -> bool:
    return self.institution_code[account] != empty(bytes32)


@external
def add_institution(account: address, code: bytes32):
    assert msg.sender == self.admin, "only admin"
    assert code != empty(bytes32), "empty code"
    assert self.institution_code[account] == empty(bytes32), "already registered"
    self.institution_code[account] = code
    log InstitutionAdded(account=account, code=code)


@external
def set_home(patient: bytes32, home: address):
    """
    @notice First claim by a registered institution, afterwards only the current home may
            hand the patient over to another institution.
    """
    assert self._is_institution(msg.sender), "not an institution"
    assert self._is_institution(home), "home is not an institution"
    current: address = self.home_of[patient]
    if current == empty(address):
        assert home == msg.sender, "first home must be the caller"
    else:
        assert current == msg.sender, "only the home institution"
    self.home_of[patient] = home
    log HomeSet(patient=patient, home=home)


@internal
def _register(record_id: bytes32, patient: bytes32, record_class: uint8, level: uint8,
              digest: bytes32):
    assert self._is_institution(msg.sender), "not an institution"
    assert record_id != empty(bytes32), "empty record id"
    assert patient != empty(bytes32), "empty patient"
    rec: Record = self._unpack(self.stored[record_id])
    version: uint32 = 1
    if rec.holder == empty(address):
        self.record_count += 1
    else:
        assert rec.holder == msg.sender, "only the holder"
        assert rec.patient == patient, "patient differs"
        version = rec.version + 1
    now: uint64 = convert(block.timestamp, uint64)
    self.registry_digest = keccak256(abi_encode(
        self.registry_digest, record_id, patient, msg.sender, record_class, level, digest,
        version))
    meta: uint256 = (convert(msg.sender, uint256) << 96) | (convert(record_class, uint256) << 88)
    meta = meta | (convert(level, uint256) << 80) | (convert(version, uint256) << 48)
    meta = meta | (convert(now, uint256) & 281474976710655)
    self.stored[record_id] = Stored(patient=patient, sha256=digest, meta=meta)
    log RecordRegistered(record_id=record_id, patient=patient, holder=msg.sender,
                         record_class=record_class, level=level, sha256=digest,
                         version=version, time=now)


@external
def register(record_id: bytes32, patient: bytes32, record_class: uint8, level: uint8,
             digest: bytes32):
    """
    @notice Register a new record, or supersede one the caller already holds.
    """
    self._register(record_id, patient, record_class, level, digest)


@external
def register_many(record_ids: DynArray[bytes32, 128], patients: DynArray[bytes32, 128],
                  classes: DynArray[uint8, 128], levels: DynArray[uint8, 128],
                  digests: DynArray[bytes32, 128]):
    n: uint256 = len(record_ids)
    assert len(patients) == n and len(classes) == n, "length mismatch"
    assert len(levels) == n and len(digests) == n, "length mismatch"
    for i: uint256 in range(n, bound=128):
        self._register(record_ids[i], patients[i], classes[i], levels[i], digests[i])


@external
def grant(patient: bytes32, grantee: address, role: uint8, max_level: uint8, purpose: uint8,
          expiry: uint64, consent: bytes32):
    assert self.home_of[patient] == msg.sender, "only the home institution"
    assert self._is_institution(grantee), "grantee is not an institution"
    assert consent != empty(bytes32), "consent required"
    g: Grant = Grant(max_level=max_level, purpose=purpose, expiry=expiry, consent=consent,
                     active=True)
    self.grants[patient][grantee][role] = g
    log GrantChanged(patient=patient, grantee=grantee, role=role, max_level=max_level,
                     purpose=purpose, expiry=expiry, consent=consent, active=True)


@external
def revoke(patient: bytes32, grantee: address, role: uint8, consent: bytes32):
    assert self.home_of[patient] == msg.sender, "only the home institution"
    g: Grant = self.grants[patient][grantee][role]
    g.active = False
    g.consent = consent
    self.grants[patient][grantee][role] = g
    log GrantChanged(patient=patient, grantee=grantee, role=role, max_level=g.max_level,
                     purpose=g.purpose, expiry=g.expiry, consent=consent, active=False)


@external
@view
def canRead(record_id: bytes32, reader: address, role: uint8) -> bool:
    rec: Record = self._unpack(self.stored[record_id])
    if rec.holder == empty(address):
        return False
    if rec.holder == reader:
        return True
    g: Grant = self.grants[rec.patient][reader][role]
    if not g.active:
        return False
    if convert(block.timestamp, uint64) >= g.expiry:
        return False
    return rec.level <= g.max_level


@external
def anchor_log(size: uint64, root: bytes32):
    assert msg.sender == self.admin, "only admin"
    n: uint256 = self.anchor_count
    if n > 0:
        assert size >= self.anchors[n - 1].size, "log shrank"
    now: uint64 = convert(block.timestamp, uint64)
    self.anchors[n] = Anchor(size=size, root=root, time=now)
    self.anchor_count = n + 1
    log LogAnchored(index=n, size=size, root=root, time=now)
