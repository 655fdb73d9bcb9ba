// The run-time configuration (config.json beside index.html): where the API and the identity
// provider are, how cards are taken, where the Terms are. Nothing about them is baked in.
let loaded = null;

export async function loadConfig() {
  if (loaded === null) {
    const answer = await fetch("/config.json", { cache: "no-store" });
    if (!answer.ok) {
      throw new Error(`config.json: ${answer.status}`);
    }
    loaded = await answer.json();
  }
  return loaded;
}

export function config() {
  return loaded;
}
