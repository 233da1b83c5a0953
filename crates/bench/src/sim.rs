pub(crate) async fn run() -> anyhow::Result<()> {
    anyhow::bail!("the sim benchmark is not written yet")
}
