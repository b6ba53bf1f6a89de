// The like button: a file, not an inline <script>, so the page works under a
// strict Content-Security-Policy. Loaded after flask-actions.js (both defer).
// With the script, a like is a call: no page update, only the new count.
// Without JavaScript, the like button submits its form like any other.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-like]");
  if (!button || !window.FlaskActions) return;
  event.preventDefault();
  try {
    const result = await FlaskActions.call(button.dataset.like);
    button.querySelector(".likes").textContent = result.data.likes;
  } catch (error) {
    if (error.name !== "AbortError") alert(error.message);
  }
});
