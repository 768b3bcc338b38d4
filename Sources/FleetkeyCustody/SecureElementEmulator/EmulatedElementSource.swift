import FleetkeyCore
import Foundation

/// The factory line's elements as emulator files in one directory (`<elementID>.se.json`): for demos, tests and
/// simulating large fleets. See ``SecureElementEmulator`` for what the files hold.
package struct EmulatedElementSource: SecureElementSource {
    package let directory: URL

    package init(directory: URL) {
        self.directory = directory
    }

    package var description: String { "emulated secure elements in \(directory.path)" }

    package func existingElement(_ elementID: String) throws -> (any SecureElement)? {
        guard
            FileManager.default.fileExists(
                atPath: SecureElementEmulator.fileURL(in: directory, elementID: elementID).path)
        else { return nil }
        return try SecureElementEmulator.open(in: directory, elementID: elementID)
    }

    package func newElement(_ elementID: String) throws -> any SecureElement {
        try SecureElementEmulator.create(in: directory, elementID: elementID)
    }
}
