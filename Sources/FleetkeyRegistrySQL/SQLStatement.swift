import FleetkeyCore
import Foundation

/// A value bound to a registry statement, in the registry's own terms; each store turns it into its driver's type
/// (SQLite stores times as seconds since 1970 in a REAL column, PostgreSQL as `timestamptz`). A NULL keeps its type,
/// which PostgreSQL needs to bind it.
package enum SQLValue: Sendable, Hashable {
    case text(String?)
    case integer(Int64?)
    case blob([UInt8]?)
    case date(Date?)
    /// JSON text (`jsonb` on PostgreSQL, TEXT on SQLite).
    case json(String)

    package static func int(_ value: Int?) -> SQLValue { .integer(value.map(Int64.init)) }
}

/// One statement of the registry's SQL, written once for both stores with `?` placeholders (the PostgreSQL store
/// numbers them), and what its unique-constraint violations mean to Fleetkey.
package struct SQLStatement: Sendable {
    package var sql: String
    package var values: [SQLValue]
    /// The error a violation of each unique index stands for (a duplicate serial, a second root, a cloned key).
    package var onDuplicate: [UniqueIndex: any Error]

    package init(_ sql: String, _ values: [SQLValue] = [], onDuplicate: [UniqueIndex: any Error] = [:]) {
        self.sql = sql
        self.values = values
        self.onDuplicate = onDuplicate
    }

    /// What a failure of this statement means: the mapped error for a known unique violation, else the failure.
    package func meaning(of failure: any Error, violated: UniqueIndex.Violation?) -> any Error {
        guard let index = violated, let known = onDuplicate.first(where: { index.matches($0.key) }) else {
            return failure
        }
        return known.value
    }
}

/// A step of a unit of work, run in order inside one transaction by whichever store runs it.
///
/// Writes are plain steps; a step may also read and decide what follows from what it read (``read(_:next:)``),
/// which is how a revocation plans from a snapshot taken inside its own transaction.
package enum SQLStep: Sendable {
    /// Runs a statement. With an expectation, counts the rows it returns (a SELECT, or DML with `RETURNING 1`) and
    /// fails the whole unit with `otherwise` when the count differs.
    case run(SQLStatement, expect: SQLExpectation?)
    /// Reads rows, then runs the steps `next` makes of them.
    case read(SQLStatement, next: @Sendable ([any RegistryRow]) throws -> [SQLStep])

    package static func run(_ statement: SQLStatement) -> SQLStep { .run(statement, expect: nil) }
}

/// How many rows a step must return, and the error that ends the unit when it does not.
package struct SQLExpectation: Sendable {
    package var rows: Int
    package var otherwise: any Error

    package init(rows: Int, otherwise: any Error) {
        self.rows = rows
        self.otherwise = otherwise
    }

    package func check(_ count: Int) throws {
        guard count == rows else { throw otherwise }
    }
}

/// What the two stores' SQL differs in: row locks, and what must precede appending events.
package struct SQLDialect: Sendable {
    /// Appended to a SELECT that must hold its rows against concurrent change until commit (` FOR SHARE`); empty
    /// where the whole database has one writer (SQLite).
    package var lockForShare: String
    /// As ``lockForShare``, exclusively (` FOR UPDATE`).
    package var lockForUpdate: String
    /// Run once before events are appended, so their sequence numbers are handed out in commit order.
    package var beforeAppendingEvents: SQLStatement?

    package init(lockForShare: String, lockForUpdate: String, beforeAppendingEvents: SQLStatement?) {
        self.lockForShare = lockForShare
        self.lockForUpdate = lockForUpdate
        self.beforeAppendingEvents = beforeAppendingEvents
    }
}

/// A unique index or key of the registry schema, known by both names a violation can carry: PostgreSQL's
/// constraint name and the column list in SQLite's "UNIQUE constraint failed: …".
package struct UniqueIndex: Hashable, Sendable {
    package var name: String
    package var columns: String

    /// What a store can say about a unique violation.
    package struct Violation: Sendable {
        package var constraint: String?
        package var columns: String?

        package init(constraint: String?, columns: String?) {
            self.constraint = constraint
            self.columns = columns
        }

        func matches(_ index: UniqueIndex) -> Bool { constraint == index.name || columns == index.columns }
    }

    package static let authorityID = UniqueIndex(name: "authorities_pkey", columns: "authorities.id")
    package static let oneRoot = UniqueIndex(name: "authorities_one_root", columns: "authorities.kind")
    package static let vendorName = UniqueIndex(name: "vendors_pkey", columns: "vendors.name")
    package static let vendorAuthority = UniqueIndex(
        name: "vendors_authority_id_key", columns: "vendors.authority_id")
    package static let issuerSerial = UniqueIndex(
        name: "certificates_by_issuer_serial", columns: "certificates.issuer, certificates.serial")
    package static let deviceSerial = UniqueIndex(
        name: "devices_by_serial", columns: "devices.serial, devices.vendor")
    package static let deviceKey = UniqueIndex(name: "devices_by_key", columns: "devices.key_fingerprint")
    package static let ownerName = UniqueIndex(name: "owners_pkey", columns: "owners.name")
    package static let groupName = UniqueIndex(name: "device_groups_pkey", columns: "device_groups.name")
}

/// Multi-row statements in slices that stay well under both databases' bind limits (SQLite 32,766, PostgreSQL
/// 65,535 per statement), so one unit of work can revoke or import any number of certificates.
package enum SQLBatch {
    /// The most values bound in one multi-row statement.
    static let maximumValues = 8_000

    /// `head` followed by `VALUES (?, …), (?, …)` for each slice of `rows`, then `tail`; `leading` values are bound
    /// first in every statement (for the placeholders in `head`).
    package static func statements(
        _ head: String, leading: [SQLValue] = [], _ rows: [[SQLValue]], tail: String = "",
        onDuplicate: [UniqueIndex: any Error] = [:]
    ) -> [(statement: SQLStatement, rows: Int)] {
        guard let width = rows.first?.count, width > 0 else { return [] }
        let perStatement = max(1, (maximumValues - leading.count) / width)
        let tuple = "(" + Array(repeating: "?", count: width).joined(separator: ", ") + ")"
        return stride(from: 0, to: rows.count, by: perStatement).map { start in
            let slice = rows[start..<min(rows.count, start + perStatement)]
            let sql = head + " VALUES " + Array(repeating: tuple, count: slice.count).joined(separator: ", ") + tail
            return (SQLStatement(sql, leading + slice.flatMap { $0 }, onDuplicate: onDuplicate), slice.count)
        }
    }

    /// Updates from a VALUES list (`UPDATE … FROM (VALUES …) AS t … RETURNING 1`), each slice required to touch one
    /// row per value row, else the unit fails with `otherwise`: a row another writer changed first.
    package static func checkedUpdates(
        _ head: String, leading: [SQLValue], _ rows: [[SQLValue]], tail: String, otherwise: FleetkeyError
    ) -> [SQLStep] {
        statements(head, leading: leading, rows, tail: tail).map {
            .run($0.statement, expect: SQLExpectation(rows: $0.rows, otherwise: otherwise))
        }
    }
}
