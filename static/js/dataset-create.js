// Create dataset and Add images from S3: show only the section of the chosen image location.
// Without JavaScript every section shows and the server reads only the chosen one.
for (const form of document.querySelectorAll("form.source-form")) {
  const sections = form.querySelectorAll(".source-section");
  const show = () => {
    const chosen = form.querySelector('input[name="image_location"]:checked');
    for (const section of sections) {
      section.hidden = chosen !== null && section.dataset.source !== chosen.value;
    }
  };
  form.addEventListener("change", (event) => {
    if (event.target.name === "image_location") show();
  });
  show();
}
