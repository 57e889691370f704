using ConvNeXt.Batch.Functions.Handler;

var app = HandlerApplication.Build(args);
app.Run();
