import FleetkeyCore
import FleetkeyRegistrySQL
import Foundation
import GRDB

/// The registry schema as named, ordered migrations (GRDB `DatabaseMigrator`).
///
/// A migration, once released, is never edited: changes come as new migrations appended below, so every
/// registry, whatever version created it, reaches the same schema.
enum RegistrySchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-registry") { db in
            try db.execute(
                sql: """
                    CREATE TABLE authorities (
                        id TEXT PRIMARY KEY,
                        kind TEXT NOT NULL CHECK (kind IN ('root', 'vendor')),
                        vendor TEXT,
                        certificate BLOB NOT NULL,
                        key_reference TEXT NOT NULL,
                        algorithm TEXT NOT NULL,
                        created_at REAL NOT NULL
                    );
                    CREATE TABLE vendors (
                        name TEXT PRIMARY KEY,
                        authority_id TEXT NOT NULL UNIQUE REFERENCES authorities(id),
                        state TEXT NOT NULL,
                        created_at REAL NOT NULL
                    );
                    -- A key is identified by the SHA-256 of its SubjectPublicKeyInfo; two devices sharing one row is a clone.
                    CREATE TABLE keys (
                        fingerprint TEXT PRIMARY KEY,
                        spki BLOB NOT NULL,
                        algorithm TEXT NOT NULL,
                        custody TEXT NOT NULL,
                        location TEXT,
                        created_at REAL NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE lots (
                        vendor TEXT NOT NULL REFERENCES vendors(name),
                        name TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        PRIMARY KEY (vendor, name)
                    ) WITHOUT ROWID;
                    CREATE TABLE devices (
                        id INTEGER PRIMARY KEY,
                        vendor TEXT NOT NULL REFERENCES vendors(name),
                        serial TEXT NOT NULL,
                        state TEXT NOT NULL,
                        lot TEXT,
                        key_fingerprint TEXT NOT NULL REFERENCES keys(fingerprint),
                        hw_type TEXT,
                        hw_serial BLOB,
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL
                    );
                    CREATE UNIQUE INDEX devices_by_serial ON devices(serial, vendor);
                    CREATE INDEX devices_by_key ON devices(key_fingerprint);
                    CREATE INDEX devices_by_lot ON devices(vendor, lot);
                    CREATE TABLE certificates (
                        id INTEGER PRIMARY KEY,
                        issuer TEXT NOT NULL REFERENCES authorities(id),
                        serial TEXT NOT NULL,
                        profile TEXT NOT NULL,
                        subject TEXT NOT NULL,
                        not_before REAL NOT NULL,
                        not_after REAL NOT NULL,
                        key_fingerprint TEXT NOT NULL REFERENCES keys(fingerprint),
                        device_vendor TEXT,
                        device_serial TEXT,
                        der BLOB NOT NULL,
                        status TEXT NOT NULL,
                        issued_at REAL NOT NULL
                    );
                    -- RFC 5280 §4.1.2.2: a serial is unique per issuer. The store, not luck, enforces it.
                    CREATE UNIQUE INDEX certificates_by_issuer_serial ON certificates(issuer, serial);
                    CREATE INDEX certificates_by_serial ON certificates(serial);
                    CREATE INDEX certificates_by_device ON certificates(device_serial, device_vendor);
                    CREATE INDEX certificates_by_not_after ON certificates(not_after);
                    CREATE TABLE events (
                        sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                        at REAL NOT NULL,
                        actor TEXT NOT NULL,
                        action TEXT NOT NULL,
                        subject TEXT NOT NULL,
                        from_state TEXT,
                        to_state TEXT,
                        detail TEXT NOT NULL
                    );
                    CREATE INDEX events_by_subject ON events(subject);
                    -- The event log is append-only: history is never rewritten, even by a buggy caller.
                    CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
                        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
                    CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
                        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
                    """)
        }
        migrator.registerMigration("v2-revocation") { db in
            try db.execute(
                sql: """
                    ALTER TABLE certificates ADD COLUMN revoked_at REAL;
                    ALTER TABLE certificates ADD COLUMN revocation_reason INTEGER;
                    ALTER TABLE certificates ADD COLUMN invalidity_date REAL;
                    -- CRL generation reads an issuer's revoked certificates in serial order.
                    CREATE INDEX certificates_revoked ON certificates(issuer, serial) WHERE status = 'revoked';
                    -- The newest CRL of each issuer's partition; its number only ever increases (RFC 5280 §5.2.3).
                    CREATE TABLE crls (
                        issuer TEXT NOT NULL REFERENCES authorities(id),
                        partition INTEGER NOT NULL,
                        number INTEGER NOT NULL,
                        this_update REAL NOT NULL,
                        next_update REAL NOT NULL,
                        der BLOB NOT NULL,
                        PRIMARY KEY (issuer, partition)
                    ) WITHOUT ROWID;
                    -- A running server polls for revocations made by other processes.
                    CREATE INDEX events_by_action ON events(action, sequence);
                    """)
        }
        migrator.registerMigration("v3-supply-chain") { db in
            try db.execute(
                sql: """
                    CREATE TABLE owners (
                        name TEXT PRIMARY KEY,
                        created_at REAL NOT NULL
                    );
                    -- The factory's attestation of the identity key, and the owner a manifest shipped the device to.
                    ALTER TABLE devices ADD COLUMN attestation BLOB;
                    ALTER TABLE devices ADD COLUMN attestation_key BLOB;
                    ALTER TABLE devices ADD COLUMN owner TEXT REFERENCES owners(name);
                    -- Every imported manifest, by the SHA-256 of its bytes: a second import of it changes nothing.
                    CREATE TABLE manifests (
                        digest TEXT PRIMARY KEY,
                        vendor TEXT NOT NULL,
                        lot TEXT NOT NULL,
                        owner TEXT NOT NULL REFERENCES owners(name),
                        device_count INTEGER NOT NULL,
                        imported_at REAL NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v4-one-device-per-key") { db in
            // A key belongs to one device, ever: a second device presenting it is a clone, and a revoked key must
            // never be certified again. The store enforces it, so no race between two issuers can certify it twice.
            try db.execute(
                sql: """
                    DROP INDEX devices_by_key;
                    CREATE UNIQUE INDEX devices_by_key ON devices(key_fingerprint);
                    """)
        }
        migrator.registerMigration("v5-fail-closed") { db in
            try failClosed(db)
        }
        migrator.registerMigration("v6-enrollment") { db in
            try enrollment(db)
        }
        migrator.registerMigration("v7-fleet-operations") { db in
            try fleetOperations(db)
        }
        return migrator
    }

    /// v5: the database itself refuses values Fleetkey does not know, and each certificate records its CRL scope.
    ///
    /// SQLite cannot add a CHECK constraint to a table, so the tables with enumerated columns are rebuilt the way
    /// SQLite documents (create the new table, copy, drop the old, rename; foreign keys are off while GRDB migrates
    /// and checked at the end). The lists below are the values of v5 and are never edited: a later value comes with
    /// a later migration.
    static func failClosed(_ db: Database) throws {
        try rebuild(
            "vendors", db,
            columns: """
                name TEXT PRIMARY KEY,
                authority_id TEXT NOT NULL UNIQUE REFERENCES authorities(id),
                state TEXT NOT NULL CHECK (state IN ('active', 'revoked')),
                created_at REAL NOT NULL
                """, copy: "name, authority_id, state, created_at", indexes: [])
        try rebuild(
            "keys", db,
            columns: """
                fingerprint TEXT PRIMARY KEY,
                spki BLOB NOT NULL,
                algorithm TEXT NOT NULL,
                custody TEXT NOT NULL CHECK (custody IN ('external', 'software-keystore', 'pkcs11', 'secure-element')),
                location TEXT,
                created_at REAL NOT NULL
                """, copy: "fingerprint, spki, algorithm, custody, location, created_at", indexes: [],
            withoutRowID: true)
        try rebuild(
            "devices", db,
            columns: """
                id INTEGER PRIMARY KEY,
                vendor TEXT NOT NULL REFERENCES vendors(name),
                serial TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('generated', 'provisioned', 'shipped', 'commissioned', 'active',
                    'suspended', 'revoked', 'decommissioned')),
                lot TEXT,
                key_fingerprint TEXT NOT NULL REFERENCES keys(fingerprint),
                hw_type TEXT,
                hw_serial BLOB,
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL,
                attestation BLOB,
                attestation_key BLOB,
                owner TEXT REFERENCES owners(name)
                """,
            copy: """
                id, vendor, serial, state, lot, key_fingerprint, hw_type, hw_serial, created_at, updated_at,
                attestation, attestation_key, owner
                """,
            indexes: [
                "CREATE UNIQUE INDEX devices_by_serial ON devices(serial, vendor)",
                "CREATE UNIQUE INDEX devices_by_key ON devices(key_fingerprint)",
                "CREATE INDEX devices_by_lot ON devices(vendor, lot)",
            ])
        try rebuild(
            "certificates", db,
            columns: """
                id INTEGER PRIMARY KEY,
                issuer TEXT NOT NULL REFERENCES authorities(id),
                serial TEXT NOT NULL,
                profile TEXT NOT NULL,
                subject TEXT NOT NULL,
                not_before REAL NOT NULL,
                not_after REAL NOT NULL,
                key_fingerprint TEXT NOT NULL REFERENCES keys(fingerprint),
                device_vendor TEXT,
                device_serial TEXT,
                der BLOB NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('valid', 'revoked')),
                issued_at REAL NOT NULL,
                revoked_at REAL,
                revocation_reason INTEGER CHECK (revocation_reason IN (0, 1, 2, 3, 4, 5, 6, 8, 9, 10)),
                invalidity_date REAL,
                crl_partition INTEGER,
                CHECK ((status = 'valid') = (revoked_at IS NULL AND revocation_reason IS NULL))
                """,
            copy: """
                id, issuer, serial, profile, subject, not_before, not_after, key_fingerprint, device_vendor,
                device_serial, der, status, issued_at, revoked_at, revocation_reason, invalidity_date
                """,
            indexes: [
                "CREATE UNIQUE INDEX certificates_by_issuer_serial ON certificates(issuer, serial)",
                "CREATE INDEX certificates_by_serial ON certificates(serial)",
                "CREATE INDEX certificates_by_device ON certificates(device_serial, device_vendor)",
                "CREATE INDEX certificates_by_not_after ON certificates(not_after)",
                "CREATE INDEX certificates_revoked ON certificates(issuer, serial) WHERE status = 'revoked'",
                "CREATE INDEX certificates_by_crl_scope ON certificates(issuer, crl_partition, not_after)",
            ])
        try rebuild(
            "events", db,
            columns: """
                sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                at REAL NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL CHECK (action IN ('ecosystem.created', 'trust-anchor.added', 'vendor.admitted',
                    'vendor.revoked', 'owner.added', 'certificate.issued', 'certificate.revoked', 'device.registered',
                    'device.provisioned', 'device.shipped', 'device.revoked', 'manifest.imported')),
                subject TEXT NOT NULL,
                from_state TEXT,
                to_state TEXT,
                detail TEXT NOT NULL
                """, copy: "sequence, at, actor, action, subject, from_state, to_state, detail",
            indexes: eventIndexes)
        try db.execute(sql: "CREATE UNIQUE INDEX authorities_one_root ON authorities(kind) WHERE kind = 'root'")
        try backfillCRLScopes(db)
    }

    /// v6: owners' domain CAs (authority kind `owner`) and the events of EST enrollment. The tables are rebuilt as
    /// in v5, with v6's lists, which are never edited.
    static func enrollment(_ db: Database) throws {
        try rebuild(
            "authorities", db,
            columns: """
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL CHECK (kind IN ('root', 'vendor', 'owner')),
                vendor TEXT,
                certificate BLOB NOT NULL,
                key_reference TEXT NOT NULL,
                algorithm TEXT NOT NULL,
                created_at REAL NOT NULL
                """, copy: "id, kind, vendor, certificate, key_reference, algorithm, created_at",
            indexes: ["CREATE UNIQUE INDEX authorities_one_root ON authorities(kind) WHERE kind = 'root'"])
        try rebuild(
            "events", db,
            columns: """
                sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                at REAL NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL CHECK (action IN ('ecosystem.created', 'trust-anchor.added', 'vendor.admitted',
                    'vendor.revoked', 'owner.added', 'certificate.issued', 'certificate.revoked', 'device.registered',
                    'device.provisioned', 'device.shipped', 'device.revoked', 'manifest.imported', 'authority.created',
                    'device.commissioned', 'device.activated', 'device.reenrolled', 'device.suspended',
                    'enrollment.pending', 'enrollment.refused', 'alert.clone-suspected')),
                subject TEXT NOT NULL,
                from_state TEXT,
                to_state TEXT,
                detail TEXT NOT NULL
                """, copy: "sequence, at, actor, action, subject, from_state, to_state, detail",
            indexes: eventIndexes)
    }

    /// v7: running and retiring a fleet. Device groups and the access policy, the expiry index of each CA,
    /// webhook deliveries, the `released` device state and the events of access control, transfer and retirement.
    /// `devices` and `events` are rebuilt as in v5, with v7's lists, which are never edited.
    static func fleetOperations(_ db: Database) throws {
        try rebuild(
            "devices", db,
            columns: """
                id INTEGER PRIMARY KEY,
                vendor TEXT NOT NULL REFERENCES vendors(name),
                serial TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('generated', 'provisioned', 'shipped', 'commissioned', 'active',
                    'suspended', 'revoked', 'decommissioned', 'released')),
                lot TEXT,
                key_fingerprint TEXT NOT NULL REFERENCES keys(fingerprint),
                hw_type TEXT,
                hw_serial BLOB,
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL,
                attestation BLOB,
                attestation_key BLOB,
                owner TEXT REFERENCES owners(name)
                """,
            copy: """
                id, vendor, serial, state, lot, key_fingerprint, hw_type, hw_serial, created_at, updated_at,
                attestation, attestation_key, owner
                """,
            indexes: [
                "CREATE UNIQUE INDEX devices_by_serial ON devices(serial, vendor)",
                "CREATE UNIQUE INDEX devices_by_key ON devices(key_fingerprint)",
                "CREATE INDEX devices_by_lot ON devices(vendor, lot)",
            ])
        try rebuild(
            "events", db,
            columns: """
                sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                at REAL NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL CHECK (action IN ('ecosystem.created', 'trust-anchor.added', 'vendor.admitted',
                    'vendor.revoked', 'owner.added', 'certificate.issued', 'certificate.revoked', 'device.registered',
                    'device.provisioned', 'device.shipped', 'device.revoked', 'manifest.imported', 'authority.created',
                    'device.commissioned', 'device.activated', 'device.reenrolled', 'device.suspended',
                    'enrollment.pending', 'enrollment.refused', 'alert.clone-suspected', 'device.released',
                    'device.claimed', 'device.retired', 'device.key-destroyed', 'command.queued', 'group.created',
                    'group.changed', 'authz.policy-set', 'authz.denied', 'alert.retired-identity')),
                subject TEXT NOT NULL,
                from_state TEXT,
                to_state TEXT,
                detail TEXT NOT NULL
                """, copy: "sequence, at, actor, action, subject, from_state, to_state, detail",
            indexes: eventIndexes)
        try db.execute(
            sql: """
                CREATE TABLE device_groups (
                    name TEXT PRIMARY KEY,
                    attributes TEXT NOT NULL,
                    created_at REAL NOT NULL
                );
                -- Who is in a group, as given: a vendor, a lot or a device ('' where no vendor or value applies).
                CREATE TABLE device_group_selectors (
                    group_name TEXT NOT NULL REFERENCES device_groups(name),
                    kind TEXT NOT NULL CHECK (kind IN ('vendor', 'lot', 'serial')),
                    vendor TEXT NOT NULL,
                    value TEXT NOT NULL,
                    PRIMARY KEY (group_name, kind, vendor, value)
                ) WITHOUT ROWID;
                -- Every policy ever loaded; the newest is in force.
                CREATE TABLE access_policies (
                    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                    digest TEXT NOT NULL,
                    document BLOB NOT NULL,
                    loaded_at REAL NOT NULL
                );
                -- Each webhook notice once, by its idempotency key: a restarted server neither loses nor repeats one.
                CREATE TABLE webhook_deliveries (
                    idempotency_key TEXT PRIMARY KEY,
                    endpoint TEXT NOT NULL,
                    body BLOB NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered')),
                    attempts INTEGER NOT NULL,
                    next_attempt_at REAL NOT NULL,
                    last_error TEXT,
                    created_at REAL NOT NULL,
                    delivered_at REAL
                );
                CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt_at);
                -- The expiry report counts the valid certificates a CA signed that its expiry cuts short, in the index.
                CREATE INDEX certificates_valid_by_issuer_expiry ON certificates(issuer, not_after)
                    WHERE status = 'valid';
                """)
    }

    /// The event log's indexes and its append-only triggers, as every rebuild of the table restores them.
    static let eventIndexes = [
        "CREATE INDEX events_by_subject ON events(subject)",
        "CREATE INDEX events_by_action ON events(action, sequence)",
        """
        CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END
        """,
        """
        CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END
        """,
    ]

    /// Rebuilds `table` with new column definitions, copying `copy` columns across, then its indexes and triggers.
    private static func rebuild(
        _ table: String, _ db: Database, columns: String, copy: String, indexes: [String], withoutRowID: Bool = false
    ) throws {
        try db.execute(sql: "CREATE TABLE \(table)_rebuilt (\(columns))" + (withoutRowID ? " WITHOUT ROWID" : ""))
        try db.execute(sql: "INSERT INTO \(table)_rebuilt (\(copy)) SELECT \(copy) FROM \(table)")
        try db.execute(sql: "DROP TABLE \(table)")
        try db.execute(sql: "ALTER TABLE \(table)_rebuilt RENAME TO \(table)")
        for index in indexes { try db.execute(sql: index) }
    }

    /// Records each certificate's CRL scope from its own cRLDistributionPoint, and renumbers published CRLs by the
    /// scope their issuingDistributionPoint names (before v5, partition 0 meant both the complete CRL and `-p0`).
    private static func backfillCRLScopes(_ db: Database) throws {
        let certificates = try Row.fetchCursor(db, sql: "SELECT id, issuer, der FROM certificates")
        let update = try db.makeStatement(sql: "UPDATE certificates SET crl_partition = ? WHERE id = ?")
        while let row = try certificates.next() {
            let scope = try RegistryBackfill.crlScope(certificateDER: Array(row["der"] as Data), issuer: row["issuer"])
            try update.execute(arguments: [scope, row["id"] as Int64])
        }
        for row in try Row.fetchAll(db, sql: "SELECT issuer, partition, der FROM crls") {
            let scope = try RegistryBackfill.crlScope(crlDER: Array(row["der"] as Data), issuer: row["issuer"])
            try db.execute(
                sql: "UPDATE crls SET partition = ? WHERE issuer = ? AND partition = ?",
                arguments: [scope, row["issuer"] as String, row["partition"] as Int64])
        }
    }
}
