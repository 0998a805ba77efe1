// scrollable-region-focusable: a code or output block that scrolls must be
// reachable by keyboard, so that it can be scrolled without a mouse.
function makeScrollableBlocksFocusable() {
  for (const block of document.querySelectorAll("pre")) {
    const scrolls =
      block.scrollWidth > block.clientWidth || block.scrollHeight > block.clientHeight;
    if (scrolls && !block.hasAttribute("tabindex")) {
      block.setAttribute("tabindex", "0");
    }
  }
}
document.addEventListener("DOMContentLoaded", makeScrollableBlocksFocusable);
