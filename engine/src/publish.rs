//! Publication handles between domain crates: what storage and portfolios hand to the
//! fanout, and what the fanout asks of portfolios, without depending on each other (`src/`
//! wires them).

/// Where portfolio valuations go live (the fanout implements it).
pub trait ValuationSink: Send + Sync + std::fmt::Debug {
    /// Sends `message`, a whole `valuation` message on `portfolio.<portfolio>` (JSON object
    /// text starting with `{"type":"valuation",`), to the channel's subscribers and keeps it as
    /// the channel's snapshot.
    fn publish_valuation(&self, portfolio: u64, message: String, ts_recv: i64);
    /// Forgets a deleted portfolio's snapshot.
    fn forget_portfolio(&self, portfolio: u64);
    /// Whether anyone subscribes to the portfolio's channel (valuations nobody reads are not
    /// built on every tick).
    fn has_subscribers(&self, portfolio: u64) -> bool;
}

/// Which portfolios exist, for whom (the portfolio service implements it).
pub trait PortfolioDirectory: Send + Sync + std::fmt::Debug {
    /// Whether `principal` may see portfolio `id`. Another principal's portfolio does not
    /// exist for you.
    fn visible(&self, id: u64, principal: &str) -> bool;
    /// Someone subscribed to portfolio `id`: publish a fresh valuation soon. Called without
    /// any hub lock held.
    fn subscribed(&self, id: u64);
}
