// The header's menu is a <details> and works without script; this only adds
// what people expect of a menu on a phone: Escape closes it (focus back on
// its button), and so does a tap or click outside it.

const menu = document.querySelector("details.menu");
if (menu) {
  const button = menu.querySelector("summary");
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && menu.open) {
      menu.open = false;
      button.focus();
    }
  });
  document.addEventListener("click", (event) => {
    if (menu.open && !menu.contains(event.target)) menu.open = false;
  });
}
