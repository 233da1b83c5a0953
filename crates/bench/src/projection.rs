pub(crate) async fn run() -> anyhow::Result<()> {
    anyhow::bail!("the projection benchmark is not written yet")
}
