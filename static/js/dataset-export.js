// Export dataset: show the split choice for the YOLO formats and the S3 folder for an export to S3.
// Without JavaScript every part shows and the server reads only what the choices need.
const form = document.getElementById("dataset-export-form");
if (form) {
  const show = () => {
    const format = form.querySelector('input[name="format"]:checked');
    const destination = form.querySelector('input[name="destination"]:checked');
    for (const section of form.querySelectorAll("[data-formats]")) {
      section.hidden = format !== null && !section.dataset.formats.split(" ").includes(format.value);
    }
    for (const section of form.querySelectorAll("[data-destination]")) {
      section.hidden = destination !== null && section.dataset.destination !== destination.value;
    }
  };
  form.addEventListener("change", show);
  show();
}
