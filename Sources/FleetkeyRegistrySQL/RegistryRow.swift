import FleetkeyCore
import Foundation

/// One row a store read, column by column, as the registry's SQL names them. Each store adapts its driver's row
/// (GRDB's `Row`, postgres-nio's `PostgresRow`); a missing column, or a value of the wrong type, is an error.
package protocol RegistryRow {
    func text(_ column: String) throws -> String?
    func integer(_ column: String) throws -> Int64?
    func blob(_ column: String) throws -> [UInt8]?
    func date(_ column: String) throws -> Date?
}

/// A row of one table, read strictly: every enumerated value must be one this Fleetkey knows, every required value
/// present. Nothing unknown is ever read as a default; the error names the table, the row and the value, so a
/// corrupted status can never be served as `good`.
package struct StoredRow {
    let row: any RegistryRow
    let table: String
    /// The columns that name the row in an error (`issuer`, `serial`).
    let key: [String]

    package init(_ row: any RegistryRow, table: String, key: [String]) {
        self.row = row
        self.table = table
        self.key = key
    }

    /// The row as its key columns name it (`vendor-acme/65FE…`), for messages.
    var name: String {
        key.map { column in
            if let text = try? row.text(column) { return text }
            if let number = try? row.integer(column) { return "\(number)" }
            return "?"
        }
        .joined(separator: "/")
    }

    package func unrecognised(_ column: String, _ value: String, expected: String) -> FleetkeyError {
        FleetkeyError(
            .storage,
            "registry table \(table), row \(name): \(column) '\(value.prefix(80))' is not \(expected); the registry "
                + "is damaged or was written by a newer Fleetkey, so nothing of this row is used")
    }

    /// Reads through the store's row, naming this table and row in whatever goes wrong.
    private func read<T>(_ column: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as FleetkeyError {
            throw FleetkeyError(.storage, "registry table \(table), row \(name): \(error.reason)")
        }
    }

    private func missing(_ column: String) -> FleetkeyError {
        FleetkeyError(
            .storage, "registry table \(table), row \(name): \(column) is empty, but Fleetkey always records it")
    }

    package func text(_ column: String) throws -> String {
        guard let value = try read(column, { try row.text(column) }) else { throw missing(column) }
        return value
    }

    package func optionalText(_ column: String) throws -> String? { try read(column, { try row.text(column) }) }

    package func integer(_ column: String) throws -> Int64 {
        guard let value = try read(column, { try row.integer(column) }) else { throw missing(column) }
        return value
    }

    package func optionalInteger(_ column: String) throws -> Int64? { try read(column, { try row.integer(column) }) }

    package func int(_ column: String) throws -> Int {
        let value = try integer(column)
        guard let int = Int(exactly: value) else { throw unrecognised(column, "\(value)", expected: "a count") }
        return int
    }

    package func blob(_ column: String) throws -> [UInt8] {
        guard let value = try read(column, { try row.blob(column) }) else { throw missing(column) }
        return value
    }

    package func optionalBlob(_ column: String) throws -> [UInt8]? { try read(column, { try row.blob(column) }) }

    package func date(_ column: String) throws -> Date {
        guard let value = try read(column, { try row.date(column) }) else { throw missing(column) }
        return value
    }

    package func optionalDate(_ column: String) throws -> Date? { try read(column, { try row.date(column) }) }

    /// A stored enumeration: one of `E`'s cases by its raw value, or an error listing the ones this Fleetkey knows.
    package func enumeration<E: RawRepresentable & CaseIterable>(_ type: E.Type, _ column: String) throws -> E
    where E.RawValue == String {
        try enumeration(type, column, text(column))
    }

    package func optionalEnumeration<E: RawRepresentable & CaseIterable>(_ type: E.Type, _ column: String) throws
        -> E?
    where E.RawValue == String {
        try optionalText(column).map { try enumeration(type, column, $0) }
    }

    private func enumeration<E: RawRepresentable & CaseIterable>(_: E.Type, _ column: String, _ raw: String) throws
        -> E
    where E.RawValue == String {
        guard let value = E(rawValue: raw) else {
            throw unrecognised(
                column, raw, expected: "one of " + E.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return value
    }

    /// Runs a parse that throws its own error (a vendor name, a key spec), reporting it against this row.
    package func parse<T>(_ column: String, _ body: (String) throws -> T) throws -> T {
        let raw = try text(column)
        do {
            return try body(raw)
        } catch {
            throw unrecognised(column, raw, expected: "valid (\(error))")
        }
    }

    package func optionalParse<T>(_ column: String, _ body: (String) throws -> T) throws -> T? {
        guard try optionalText(column) != nil else { return nil }
        return try parse(column, body)
    }
}
