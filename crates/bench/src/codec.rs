pub(crate) fn run() -> anyhow::Result<()> {
    anyhow::bail!("the codec benchmark is not written yet")
}
