import Foundation
import Testing

@testable import FleetkeyCore

/// The character sets of lot, vendor and owner names (Names.swift), and a manifest that carries a bad lot.
@Suite("Names: lots, vendors and owners")
struct NameRuleTests {
    static let bad = ["A/B", "..", "A..B", "A\u{07}B", "A\u{202E}B", "A\u{0}B", "", String(repeating: "A", count: 65)]

    @Test("a slash, a '..', a control or bidi character, an empty or too long name are refused", arguments: bad)
    func refused(name: String) {
        #expect(throws: FleetkeyError(.invalidArgument, "")) { try LotName(name) }
        #expect(throws: FleetkeyError(.invalidArgument, "")) { try VendorName(name) }
        #expect(throws: FleetkeyError(.invalidArgument, "")) { try OwnerName(name) }
    }

    @Test("what the sets admit")
    func admitted() throws {
        for lot in ["L7", "LOT-1", "lot_2.b", String(repeating: "L", count: 64)] { _ = try LotName(lot) }
        #expect(throws: FleetkeyError.self) { try LotName(".hidden") }
        #expect(throws: FleetkeyError.self) { try LotName("LOT 1") }
        for name in ["Acme", "Acme Sensors 2.0", "Globex-Ops", "a.b_c"] {
            _ = try VendorName(name)
            _ = try OwnerName(name)
        }
        #expect(throws: FleetkeyError.self) { try VendorName(" Acme") }
    }

    @Test("the refusal shows the name with control and bidi characters escaped")
    func escaped() {
        let error = #expect(throws: FleetkeyError.self) { try LotName("LOT\u{202E}1", field: "--lot") }
        #expect(error?.reason.hasPrefix("--lot 'LOT\\u{202E}1'") == true, "\(error?.reason ?? "")")
        #expect(error?.reason.contains("\u{202E}") == false)
    }

    @Test("a manifest whose lot or buyer breaks the rules is refused as a whole", arguments: ["../L7", "L7\u{202E}"])
    func manifestLot(lot: String) throws {
        for (lot, buyer) in [(lot, "Globex"), ("L7", lot)] {
            let document = ManifestDocument(
                ecosystem: "E", vendor: "Acme", lot: lot, buyer: buyer, createdAt: Date(timeIntervalSince1970: 0),
                chain: [], devices: [])
            let error = #expect(throws: FleetkeyError.self) { try ManifestDocument.decode(try document.encoded()) }
            #expect(error?.code == .manifestRejected, "\(String(describing: error))")
        }
    }
}
