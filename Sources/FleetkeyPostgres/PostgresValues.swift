import FleetkeyCore
import FleetkeyRegistrySQL
import Foundation
import NIOCore
import PostgresNIO

/// The registry's statements and values as postgres-nio sends them: `?` placeholders numbered `$1`, `$2`, …, times
/// as `timestamptz`, bytes as `bytea`, JSON as `jsonb`; NULLs untyped, so the server gives them the column's type.
enum PostgresValues {
    static func query(_ statement: SQLStatement) -> PostgresQuery {
        var binds = PostgresBindings(capacity: statement.values.count)
        for value in statement.values {
            switch value {
            case .text(let text): binds.append(text)
            case .integer(let integer): binds.append(integer)
            case .blob(let bytes): binds.append(bytes.map { ByteBuffer(bytes: $0) })
            case .date(let date): binds.append(date)
            case .json(let text): binds.append(JSONBText(text: text))
            }
        }
        return PostgresQuery(unsafeSQL: numbered(statement.sql), binds: binds)
    }

    /// `?` → `$n`, outside quoted literals (the registry's SQL never has a `?` inside one).
    static func numbered(_ sql: String) -> String {
        var out = ""
        out.reserveCapacity(sql.utf8.count + 16)
        var number = 0
        var quoted = false
        for character in sql {
            if character == "'" { quoted.toggle() }
            if character == "?" && !quoted {
                number += 1
                out += "$\(number)"
            } else {
                out.append(character)
            }
        }
        return out
    }
}

/// JSON text bound as `jsonb` (binary format: a version byte, then the text).
struct JSONBText: PostgresNonThrowingEncodable {
    var text: String

    static var psqlType: PostgresDataType { .jsonb }
    static var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(
        into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>
    ) {
        buffer.writeInteger(UInt8(1))
        buffer.writeString(text)
    }
}

/// A postgres-nio row read strictly: a missing column, or another type than asked, is an error.
struct PostgresRegistryRow: RegistryRow {
    let row: PostgresRandomAccessRow

    init(_ row: PostgresRow) {
        self.row = PostgresRandomAccessRow(row)
    }

    private func decode<T: PostgresDecodable>(_ column: String, _: T.Type, _ expected: String) throws -> T? {
        guard row.contains(column) else {
            throw FleetkeyError(.storage, "the registry's answer has no column \(column)")
        }
        let cell = row[column]
        guard cell.bytes != nil else { return nil }
        do {
            return try cell.decode(T.self)
        } catch {
            throw FleetkeyError(.storage, "column \(column) holds \(cell.dataType) where \(expected) belongs")
        }
    }

    func text(_ column: String) throws -> String? { try decode(column, String.self, "text") }
    func integer(_ column: String) throws -> Int64? { try decode(column, Int64.self, "an integer") }
    func blob(_ column: String) throws -> [UInt8]? {
        try decode(column, ByteBuffer.self, "bytes").map { Array($0.readableBytesView) }
    }
    func date(_ column: String) throws -> Date? { try decode(column, Date.self, "a time") }
}
