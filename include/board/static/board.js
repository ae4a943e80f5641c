// The board works without this script.  Inside the Airflow UI it is shown in a sandboxed frame
// that may not navigate the whole window; links marked data-top (the account's run in Airflow,
// a Jira issue) would then open inside the frame.  With scripts, they open in the whole window.
document.addEventListener("click", function (event) {
  var link = event.target.closest && event.target.closest("a[data-top]");
  if (!link || window.top === window || event.defaultPrevented || event.button !== 0
      || event.metaKey || event.ctrlKey || event.shiftKey) { return; }
  try {
    var outer = window.top.document.createElement("a");  // same origin: a link of the outer page
    outer.href = link.href;
    outer.style.display = "none";
    window.top.document.body.appendChild(outer);
    outer.click();
    outer.remove();
    event.preventDefault();
  } catch (e) { /* not the same origin: let the link open in the frame */ }
});
