import Logging
import NIOCore
import NIOHTTPTypes

/// Closes a connection whose client is too slow to send a request (slowloris): the head must
/// arrive within `headTimeout` of the connection opening or of the previous response, and the
/// body within `bodyTimeout` of the head, however the bytes are trickled. Hummingbird's own idle
/// timeout covers silence; it is reset by every body chunk, so a body sent a byte at a time would
/// hold a connection open forever without this.
///
/// Sits after Hummingbird's HTTP/1 codec, so it sees request parts, not bytes; the time a handler
/// takes to answer belongs to the request deadline, not to this.
final class RequestReadDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let headTimeout: TimeAmount
    private let bodyTimeout: TimeAmount
    private let logger: Logger
    private var timer: Scheduled<Void>?
    private var readingBody = false
    private var responsesOwed = 0

    init(headTimeout: TimeAmount, bodyTimeout: TimeAmount, logger: Logger) {
        self.headTimeout = headTimeout
        self.bodyTimeout = bodyTimeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, headTimeout, "head") }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, headTimeout, "head")
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head:
            responsesOwed += 1
            readingBody = true
            arm(context, bodyTimeout, "body")
        case .body:
            break  // deliberately not extended by each chunk
        case .end:
            readingBody = false
            disarm()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = Self.unwrapOutboundIn(data) {
            responsesOwed -= 1
            // An early answer while the body is still arriving keeps the body's deadline running.
            if responsesOwed <= 0, !readingBody {
                responsesOwed = 0
                arm(context, headTimeout, "head")
            }
        }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext, _ timeout: TimeAmount, _ phase: String) {
        timer?.cancel()
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            self.timer = nil
            self.logger.debug(
                "closing a connection: the request \(phase) did not arrive in time",
                metadata: ["peer": "\(context.channel.remoteAddress.map { "\($0)" } ?? "unknown")"])
            context.close(promise: nil)
        }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }
}

@available(*, unavailable)
extension RequestReadDeadline: Sendable {}
