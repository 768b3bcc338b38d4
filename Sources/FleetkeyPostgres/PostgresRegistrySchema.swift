import FleetkeyRegistrySQL
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// The registry schema on PostgreSQL as named, ordered migrations: the same logical schema as the SQLite
/// registry's (`FleetkeySQLite/RegistrySchema.swift`), table for table, constraint for constraint, index for index.
///
/// Types are PostgreSQL's natural ones: `text`, `bytea` for DER and key bytes, `timestamptz` (microsecond
/// precision) for times, identity columns for row ids. Identifier columns use the "C" collation so that
/// listings sort byte by byte, exactly as SQLite's do. A migration, once released, is never edited: changes
/// come as new migrations appended to ``migrations``, so every database reaches the same schema.
enum PostgresRegistrySchema {
    /// One migration: a name recorded in `fleetkey_migrations` once applied, and its statements, run in order in
    /// one transaction (PostgreSQL's DDL is transactional, so a migration lands whole or not at all).
    struct Migration: Sendable {
        var name: String
        var statements: [String]
        /// Work in Swift after the statements, in the same transaction: filling a new column from stored DER.
        var dataStep: (@Sendable (PostgresConnection, Logger) async throws -> Void)? = nil
    }

    /// The table that records which migrations a database has had.
    static let migrationsTable = "fleetkey_migrations"

    static let migrations: [Migration] = [
        Migration(
            name: "v1-registry",
            statements: [
                """
                CREATE TABLE authorities (
                    id text COLLATE "C" PRIMARY KEY,
                    kind text NOT NULL CHECK (kind IN ('root', 'vendor')),
                    vendor text COLLATE "C",
                    certificate bytea NOT NULL,
                    key_reference text NOT NULL,
                    algorithm text NOT NULL,
                    created_at timestamptz NOT NULL
                )
                """,
                """
                CREATE TABLE vendors (
                    name text COLLATE "C" PRIMARY KEY,
                    authority_id text COLLATE "C" NOT NULL UNIQUE REFERENCES authorities(id),
                    state text NOT NULL,
                    created_at timestamptz NOT NULL
                )
                """,
                // A key is identified by the SHA-256 of its SubjectPublicKeyInfo; two devices sharing one row is a
                // clone.
                """
                CREATE TABLE keys (
                    fingerprint text COLLATE "C" PRIMARY KEY,
                    spki bytea NOT NULL,
                    algorithm text NOT NULL,
                    custody text NOT NULL,
                    location text,
                    created_at timestamptz NOT NULL
                )
                """,
                """
                CREATE TABLE lots (
                    vendor text COLLATE "C" NOT NULL REFERENCES vendors(name),
                    name text COLLATE "C" NOT NULL,
                    created_at timestamptz NOT NULL,
                    PRIMARY KEY (vendor, name)
                )
                """,
                """
                CREATE TABLE devices (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    vendor text COLLATE "C" NOT NULL REFERENCES vendors(name),
                    serial text COLLATE "C" NOT NULL,
                    state text NOT NULL,
                    lot text COLLATE "C",
                    key_fingerprint text COLLATE "C" NOT NULL REFERENCES keys(fingerprint),
                    hw_type text,
                    hw_serial bytea,
                    created_at timestamptz NOT NULL,
                    updated_at timestamptz NOT NULL
                )
                """,
                "CREATE UNIQUE INDEX devices_by_serial ON devices (serial, vendor)",
                "CREATE INDEX devices_by_key ON devices (key_fingerprint)",
                "CREATE INDEX devices_by_lot ON devices (vendor, lot)",
                """
                CREATE TABLE certificates (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    issuer text COLLATE "C" NOT NULL REFERENCES authorities(id),
                    serial text COLLATE "C" NOT NULL,
                    profile text NOT NULL,
                    subject text NOT NULL,
                    not_before timestamptz NOT NULL,
                    not_after timestamptz NOT NULL,
                    key_fingerprint text COLLATE "C" NOT NULL REFERENCES keys(fingerprint),
                    device_vendor text COLLATE "C",
                    device_serial text COLLATE "C",
                    der bytea NOT NULL,
                    status text NOT NULL,
                    issued_at timestamptz NOT NULL
                )
                """,
                // RFC 5280 §4.1.2.2: a serial is unique per issuer. The store, not luck, enforces it.
                "CREATE UNIQUE INDEX certificates_by_issuer_serial ON certificates (issuer, serial)",
                "CREATE INDEX certificates_by_serial ON certificates (serial)",
                "CREATE INDEX certificates_by_device ON certificates (device_serial, device_vendor)",
                "CREATE INDEX certificates_by_not_after ON certificates (not_after)",
                """
                CREATE TABLE events (
                    sequence bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    at timestamptz NOT NULL,
                    actor text NOT NULL,
                    action text NOT NULL,
                    subject text COLLATE "C" NOT NULL,
                    from_state text,
                    to_state text,
                    detail jsonb NOT NULL
                )
                """,
                "CREATE INDEX events_by_subject ON events (subject)",
                // The event log is append-only: history is never rewritten, even by a buggy caller. PostgreSQL
                // also has TRUNCATE, which row triggers do not see, so it gets a statement trigger of its own.
                """
                CREATE FUNCTION fleetkey_events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    RAISE EXCEPTION 'the event log is append-only' USING ERRCODE = 'restrict_violation';
                END
                $$
                """,
                """
                CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
                    FOR EACH ROW EXECUTE FUNCTION fleetkey_events_are_append_only()
                """,
                """
                CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
                    FOR EACH ROW EXECUTE FUNCTION fleetkey_events_are_append_only()
                """,
                """
                CREATE TRIGGER events_are_append_only_truncate BEFORE TRUNCATE ON events
                    FOR EACH STATEMENT EXECUTE FUNCTION fleetkey_events_are_append_only()
                """,
            ]),
        Migration(
            name: "v2-revocation",
            statements: [
                "ALTER TABLE certificates ADD COLUMN revoked_at timestamptz",
                "ALTER TABLE certificates ADD COLUMN revocation_reason integer",
                "ALTER TABLE certificates ADD COLUMN invalidity_date timestamptz",
                // CRL generation reads an issuer's revoked certificates in serial order.
                "CREATE INDEX certificates_revoked ON certificates (issuer, serial) WHERE status = 'revoked'",
                // The newest CRL of each issuer's partition; its number only ever increases (RFC 5280 §5.2.3).
                """
                CREATE TABLE crls (
                    issuer text COLLATE "C" NOT NULL REFERENCES authorities(id),
                    partition integer NOT NULL,
                    number bigint NOT NULL,
                    this_update timestamptz NOT NULL,
                    next_update timestamptz NOT NULL,
                    der bytea NOT NULL,
                    PRIMARY KEY (issuer, partition)
                )
                """,
                // A running server polls for revocations made by other processes.
                "CREATE INDEX events_by_action ON events (action, sequence)",
            ]),
        Migration(
            name: "v3-supply-chain",
            statements: [
                """
                CREATE TABLE owners (
                    name text COLLATE "C" PRIMARY KEY,
                    created_at timestamptz NOT NULL
                )
                """,
                // The factory's attestation of the identity key, and the owner a manifest shipped the device to.
                "ALTER TABLE devices ADD COLUMN attestation bytea",
                "ALTER TABLE devices ADD COLUMN attestation_key bytea",
                "ALTER TABLE devices ADD COLUMN owner text COLLATE \"C\" REFERENCES owners(name)",
                // Every imported manifest, by the SHA-256 of its bytes: a second import of it changes nothing.
                """
                CREATE TABLE manifests (
                    digest text COLLATE "C" PRIMARY KEY,
                    vendor text COLLATE "C" NOT NULL,
                    lot text COLLATE "C" NOT NULL,
                    owner text COLLATE "C" NOT NULL REFERENCES owners(name),
                    device_count integer NOT NULL,
                    imported_at timestamptz NOT NULL
                )
                """,
            ]),
        Migration(
            name: "v4-one-device-per-key",
            statements: [
                // A key belongs to one device, ever: a second device presenting it is a clone, and a revoked key must
                // never be certified again. The store enforces it, so no race between two issuers can certify it twice.
                "DROP INDEX devices_by_key",
                "CREATE UNIQUE INDEX devices_by_key ON devices (key_fingerprint)",
            ]),
        Migration(
            name: "v5-fail-closed",
            statements: [
                // The database itself refuses values Fleetkey does not know. These lists are v5's and are never
                // edited: a later value comes with a later migration.
                """
                ALTER TABLE certificates ADD CONSTRAINT certificates_status_known
                    CHECK (status IN ('valid', 'revoked'))
                """,
                """
                ALTER TABLE certificates ADD CONSTRAINT certificates_reason_known
                    CHECK (revocation_reason IN (0, 1, 2, 3, 4, 5, 6, 8, 9, 10))
                """,
                """
                ALTER TABLE certificates ADD CONSTRAINT certificates_revocation_consistent
                    CHECK ((status = 'valid') = (revoked_at IS NULL AND revocation_reason IS NULL))
                """,
                """
                ALTER TABLE devices ADD CONSTRAINT devices_state_known CHECK (state IN ('generated', 'provisioned',
                    'shipped', 'commissioned', 'active', 'suspended', 'revoked', 'decommissioned'))
                """,
                """
                ALTER TABLE keys ADD CONSTRAINT keys_custody_known
                    CHECK (custody IN ('external', 'software-keystore', 'pkcs11', 'secure-element'))
                """,
                "ALTER TABLE vendors ADD CONSTRAINT vendors_state_known CHECK (state IN ('active', 'revoked'))",
                """
                ALTER TABLE events ADD CONSTRAINT events_action_known CHECK (action IN ('ecosystem.created',
                    'trust-anchor.added', 'vendor.admitted', 'vendor.revoked', 'owner.added', 'certificate.issued',
                    'certificate.revoked', 'device.registered', 'device.provisioned', 'device.shipped',
                    'device.revoked', 'manifest.imported'))
                """,
                "CREATE UNIQUE INDEX authorities_one_root ON authorities (kind) WHERE kind = 'root'",
                // Each certificate's CRL scope, recorded at issuance (-1: the complete CRL; k: partition k).
                "ALTER TABLE certificates ADD COLUMN crl_partition integer",
                "CREATE INDEX certificates_by_crl_scope ON certificates (issuer, crl_partition, not_after)",
            ],
            dataStep: backfillCRLScopes),
        Migration(
            name: "v6-enrollment",
            statements: [
                // Owners' domain CAs, and the events of EST enrollment. v6's lists, never edited.
                "ALTER TABLE authorities DROP CONSTRAINT authorities_kind_check",
                """
                ALTER TABLE authorities ADD CONSTRAINT authorities_kind_known
                    CHECK (kind IN ('root', 'vendor', 'owner'))
                """,
                "ALTER TABLE events DROP CONSTRAINT events_action_known",
                """
                ALTER TABLE events ADD CONSTRAINT events_action_known CHECK (action IN ('ecosystem.created',
                    'trust-anchor.added', 'vendor.admitted', 'vendor.revoked', 'owner.added', 'certificate.issued',
                    'certificate.revoked', 'device.registered', 'device.provisioned', 'device.shipped',
                    'device.revoked', 'manifest.imported', 'authority.created', 'device.commissioned',
                    'device.activated', 'device.reenrolled', 'device.suspended', 'enrollment.pending',
                    'enrollment.refused', 'alert.clone-suspected'))
                """,
            ]),
        Migration(
            name: "v7-fleet-operations",
            statements: [
                // Running and retiring a fleet. v7's lists, never edited.
                "ALTER TABLE devices DROP CONSTRAINT devices_state_known",
                """
                ALTER TABLE devices ADD CONSTRAINT devices_state_known CHECK (state IN ('generated', 'provisioned',
                    'shipped', 'commissioned', 'active', 'suspended', 'revoked', 'decommissioned', 'released'))
                """,
                "ALTER TABLE events DROP CONSTRAINT events_action_known",
                """
                ALTER TABLE events ADD CONSTRAINT events_action_known CHECK (action IN ('ecosystem.created',
                    'trust-anchor.added', 'vendor.admitted', 'vendor.revoked', 'owner.added', 'certificate.issued',
                    'certificate.revoked', 'device.registered', 'device.provisioned', 'device.shipped',
                    'device.revoked', 'manifest.imported', 'authority.created', 'device.commissioned',
                    'device.activated', 'device.reenrolled', 'device.suspended', 'enrollment.pending',
                    'enrollment.refused', 'alert.clone-suspected', 'device.released', 'device.claimed',
                    'device.retired', 'device.key-destroyed', 'command.queued', 'group.created', 'group.changed',
                    'authz.policy-set', 'authz.denied', 'alert.retired-identity'))
                """,
                """
                CREATE TABLE device_groups (
                    name text PRIMARY KEY,
                    attributes text NOT NULL,
                    created_at timestamptz NOT NULL
                )
                """,
                """
                CREATE TABLE device_group_selectors (
                    group_name text NOT NULL REFERENCES device_groups(name),
                    kind text NOT NULL CHECK (kind IN ('vendor', 'lot', 'serial')),
                    vendor text NOT NULL,
                    value text NOT NULL,
                    PRIMARY KEY (group_name, kind, vendor, value)
                )
                """,
                """
                CREATE TABLE access_policies (
                    sequence bigserial PRIMARY KEY,
                    digest text NOT NULL,
                    document bytea NOT NULL,
                    loaded_at timestamptz NOT NULL
                )
                """,
                """
                CREATE TABLE webhook_deliveries (
                    idempotency_key text PRIMARY KEY,
                    endpoint text NOT NULL,
                    body bytea NOT NULL,
                    state text NOT NULL CHECK (state IN ('pending', 'delivered')),
                    attempts integer NOT NULL,
                    next_attempt_at timestamptz NOT NULL,
                    last_error text,
                    created_at timestamptz NOT NULL,
                    delivered_at timestamptz
                )
                """,
                "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at)",
                """
                CREATE INDEX certificates_valid_by_issuer_expiry ON certificates (issuer, not_after)
                WHERE status = 'valid'
                """,
            ]),
    ]

    /// v5's data: each existing certificate's CRL scope from its own cRLDistributionPoint, and published CRLs
    /// renumbered by the scope their issuingDistributionPoint names (before v5, partition 0 meant both the complete
    /// CRL and `-p0`). Certificates are read in pages, so any registry size fits in memory.
    @Sendable
    static func backfillCRLScopes(_ connection: PostgresConnection, _ logger: Logger) async throws {
        var after: Int64 = 0
        while true {
            let page = try await connection.query(
                "SELECT id, issuer, der FROM certificates WHERE id > \(after) ORDER BY id LIMIT 5000", logger: logger
            ).collect()
            guard !page.isEmpty else { break }
            for row in page {
                let (id, issuer, der) = try row.decode((Int64, String, ByteBuffer).self)
                let scope = try RegistryBackfill.crlScope(certificateDER: Array(der.readableBytesView), issuer: issuer)
                try await connection.query(
                    "UPDATE certificates SET crl_partition = \(scope.map(Int32.init)) WHERE id = \(id)", logger: logger)
                after = id
            }
        }
        for row in try await connection.query("SELECT issuer, partition, der FROM crls", logger: logger).collect() {
            let (issuer, partition, der) = try row.decode((String, Int32, ByteBuffer).self)
            let scope = try RegistryBackfill.crlScope(crlDER: Array(der.readableBytesView), issuer: issuer)
            try await connection.query(
                """
                UPDATE crls SET partition = \(Int32(scope)) WHERE issuer = \(issuer) AND partition = \(partition)
                """, logger: logger)
        }
    }
}
