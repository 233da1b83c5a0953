pub(crate) async fn run() -> anyhow::Result<()> {
    anyhow::bail!("the append benchmark is not written yet")
}
