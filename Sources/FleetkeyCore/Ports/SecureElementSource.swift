/// Where the factory line finds the secure element of each device it provisions: the emulator's directory, or a
/// PKCS#11 token holding many elements.
///
/// An element that exists is opened again (a run that was interrupted resumes with the key the element already
/// made), so that provisioning never leaves a second key behind for one device.
public protocol SecureElementSource: Sendable {
    /// A description for messages (`emulator at DIR`, `PKCS#11 token 'factory'`).
    var description: String { get }
    /// The element `elementID`, if it exists.
    func existingElement(_ elementID: String) throws -> (any SecureElement)?
    /// A new, empty element `elementID` with the standard slot layout.
    func newElement(_ elementID: String) throws -> any SecureElement
}
